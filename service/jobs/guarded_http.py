"""An httpx client that connects only to public addresses, checked on the address it connects to.

The check sits in the connect step of httpcore's network backend: the host name is resolved
once, every address it resolves to must be public (service.domain.webhooks.is_public_address),
and the socket is opened to that very address. So no second lookup can answer differently
(DNS rebinding), and a redirect or a reused name cannot slip past it. TLS still verifies the
certificate against the URL's host name, which httpcore passes to the handshake separately.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from service.domain.webhooks import is_public_address

# Resolve a host and port to IP address strings (tests stub it; see tests/test_webhook_ssrf.py).
Resolver = Callable[[str, int], list[str]]

# What a delivery waits for: connect, each read and write, and the pool (contract: 10 s).
DELIVERY_TIMEOUT = 10.0


class AddressRefused(httpcore.ConnectError):
    """The target resolved to an address a webhook may not reach (loopback, private, ...)."""


def resolve(host: str, port: int) -> list[str]:
    """Return every address `host` resolves to for a TCP connection, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, refusing any connection to a non-public address.

    `resolve` turns a host into addresses; `inner` opens the socket (to the checked address,
    never to the name). With `allow_insecure` (WEBHOOK_ALLOW_INSECURE) any address is allowed.
    """

    def __init__(
        self,
        allow_insecure: bool = False,
        resolve: Resolver = resolve,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._allow_insecure = allow_insecure
        self._resolve = resolve
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve `host` once, check every address, then connect to the first one."""
        try:
            addresses = self._resolve(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolves to no address")
        if not self._allow_insecure:
            # Every address, not only the one used: a name that mixes a public address with
            # a private one is refused outright.
            refused = [a for a in addresses if not is_public_address(a)]
            if refused:
                raise AddressRefused(f"{host!r} resolves to a non-public address ({refused[0]})")
        return self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        """Refuse: a webhook is delivered over TCP only."""
        raise AddressRefused("unix sockets are not webhook targets")

    def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does (httpcore's retries use it)."""
        self._inner.sleep(seconds)


def guarded_client(
    allow_insecure: bool = False,
    resolve: Resolver = resolve,
    inner: httpcore.NetworkBackend | None = None,
    timeout: float = DELIVERY_TIMEOUT,
) -> httpx.Client:
    """Return an httpx client whose every connection goes through a `GuardedBackend`.

    Redirects are not followed (a 3xx is a failed delivery, retried later), proxies from
    the environment are ignored (a proxy would connect on our behalf, unchecked), and
    http:// URLs are refused unless `allow_insecure`.
    """
    transport = httpx.HTTPTransport(retries=0)
    # httpx has no parameter for the network backend; its transport wraps an httpcore
    # ConnectionPool, whose backend is this one attribute (checked by the SSRF tests, which
    # prove that connections go through it).
    transport._pool._network_backend = GuardedBackend(allow_insecure, resolve, inner)
    mounts = {} if allow_insecure else {"http://": _RefuseTransport()}
    return httpx.Client(
        transport=transport,
        mounts=mounts,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "tasks-service-webhooks/1"},
    )


class _RefuseTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("plain http webhooks need WEBHOOK_ALLOW_INSECURE", request=request)
