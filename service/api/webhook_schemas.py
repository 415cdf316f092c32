"""Marshmallow schemas of the webhook endpoints: what clients may send, checked strictly."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

from service.api.schemas import CleanText, StrictBoolean
from service.domain.webhooks import EVENT_TYPES, MAX_URL_LENGTH

# Fields the server sets; a client may send back what it read, and they are ignored.
READ_ONLY_FIELDS = frozenset(
    {"id", "user_id", "secret", "version", "created_at", "updated_at", "deliveries_url"}
)


class WebhookWrite(Schema):
    """A webhook's writable fields: url and events on create, any of them with enabled on PATCH.

    The URL's form (https, a host, no credentials) is checked by the resource, which knows
    whether WEBHOOK_ALLOW_INSECURE is on.
    """

    class Meta:
        unknown = RAISE

    url = CleanText(required=True, validate=validate.Length(min=1, max=MAX_URL_LENGTH))
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
    )
    enabled = StrictBoolean()

    @pre_load
    def drop_read_only_fields(self, data: Any, **kwargs: Any) -> Any:
        """Ignore server-set fields, so a client may send back what it read."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data

    @post_load
    def normalise(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> Any:
        """Store the event types de-duplicated and sorted; an empty PATCH is a 422."""
        if partial and not data:
            raise ValidationError("No fields to update.")
        if "events" in data:
            data["events"] = sorted(set(data["events"]))
        return data


webhook_create_schema = WebhookWrite()
webhook_update_schema = WebhookWrite(partial=True)
