"""Falcon resources: one class per noun and shape (collection, item, sub-resource)."""
