"""Rules of webhook delivery with no I/O: event types, the retry schedule, public addresses."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

# Every event type of the contract ("Webhooks"); a subscription names some of them.
EVENT_TYPES = (
    "task.created",
    "task.updated",
    "task.completed",
    "task.uncompleted",
    "task.moved",
    "task.deleted",
    "task.restored",
    "task.purged",
    "list.created",
    "list.updated",
    "list.deleted",
    "reminder.fired",
)

# Seconds after each failed attempt before the next: ~5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# then every 10 h; each delay varies by up to JITTER either way, so that the retries of many
# deliveries that failed together (a receiver's outage) do not arrive together.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
RETRY_EVERY = 10 * 3600
JITTER = 0.2
# A delivery still failing this long after its event is given up and its webhook disabled.
RETRY_WINDOW = timedelta(days=3)

MAX_URL_LENGTH = 2048


def retry_delay(failed_attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Return the seconds to wait after the `failed_attempts`-th failed attempt (1-based)."""
    index = max(failed_attempts, 1) - 1
    base = RETRY_DELAYS[index] if index < len(RETRY_DELAYS) else RETRY_EVERY
    return base * (1 + JITTER * (2 * rand() - 1))


def next_attempt(
    failed_attempts: int,
    first_due: datetime,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """Return when to try again after a failed attempt, or None once the window is over.

    `first_due` is when the delivery was first due (its event's commit); the window of
    RETRY_WINDOW runs from then, so a retry that would fall after it is never scheduled.
    """
    at = now + timedelta(seconds=retry_delay(failed_attempts, rand))
    if at - first_due > RETRY_WINDOW:
        return None
    return at


def is_public_address(address: str) -> bool:
    """Tell whether an IP address is a public unicast one a webhook may be delivered to.

    Refused: loopback, private (RFC 1918, unique local), link-local (169.254.0.0/16, which
    holds the cloud metadata service 169.254.169.254, and fe80::/10), shared (100.64.0.0/10),
    multicast, reserved, unspecified and documentation ranges: whatever Python does not
    count as global. An IPv4 address mapped or embedded in IPv6 is judged as the IPv4 one.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(str(embedded))
        if ip in _NAT64:
            return is_public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return ip.is_global and not ip.is_multicast


# RFC 6052's well-known NAT64 prefix: 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def url_problem(url: str, allow_insecure: bool) -> str | None:
    """Return why `url` cannot be a webhook's target (its form only), or None if it can.

    Only the form is checked here: an https URL with a host. Whether the host resolves to
    a public address is checked at delivery, on the address connected to.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"Must be at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Must be an absolute http(s) URL."
    allowed = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in allowed:
        return "Must be an https URL." if not allow_insecure else "Must be an absolute http(s) URL."
    if not parts.hostname:
        return "Must name a host."
    if parts.username is not None or parts.password is not None:
        return "Must not carry credentials; the signature authenticates the sender."
    if parts.fragment:
        return "Must not have a fragment."
    if port == 0:
        return "Must not use port 0."
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return "Must not contain whitespace or control characters."
    return None
