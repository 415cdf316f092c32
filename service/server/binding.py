"""Where gunicorn listens: loopback unless told otherwise while nobody is authenticated."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

LOOPBACK_HOST = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - chosen only when authentication is on


def default_bind(environ: Mapping[str, str], authenticated: bool) -> str:
    """Return gunicorn's bind: BIND, else HOST:PORT; without HOST, loopback unless authenticated.

    With no authentication configured, anyone who reaches the port can act as any user, so
    the service listens on 127.0.0.1 only unless HOST or BIND asks for more.
    """
    bind = environ.get("BIND", "").strip()
    if bind:
        return bind
    host = environ.get("HOST", "").strip() or (ALL_INTERFACES if authenticated else LOOPBACK_HOST)
    port = environ.get("PORT", "").strip() or "8000"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{port}"


def reachable_from_outside(binds: Iterable[str]) -> list[str]:
    """Return the binds that accept connections from other hosts (not loopback or a socket)."""
    exposed = []
    for bind in binds:
        if bind.startswith(("unix:", "fd://")):
            continue
        host = bind.rsplit(":", 1)[0] if ":" in bind else bind
        host = host.strip("[]")
        if host == "localhost":
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass  # a host name other than localhost: it may resolve to anything
        exposed.append(bind)
    return exposed
