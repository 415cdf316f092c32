"""The failure of a conditional write (If-Match), shared by the DAOs of every resource."""

from __future__ import annotations


class PreconditionFailed(Exception):
    """The row exists but its version is none of those the write was conditional on."""
