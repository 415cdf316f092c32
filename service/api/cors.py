"""CORS per the contract: Falcon's CORSMiddleware plus a fixed request-header list and Vary."""

from __future__ import annotations

from collections.abc import Iterable

import falcon

# What a browser client may send beyond the CORS-safelisted headers.
ALLOW_HEADERS = (
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Authorization",
    "X-Request-ID",
)
# What a browser client may read beyond the CORS-safelisted headers.
EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "Link",
    "X-Request-ID",
    "Idempotent-Replayed",
    "Retry-After",
    "WWW-Authenticate",
    "RateLimit",
    "RateLimit-Policy",
)


class Cors(falcon.CORSMiddleware):
    """Falcon's CORS policy, answering preflights with the request headers the API reads.

    Falcon echoes whatever a preflight asks for; this answers with the fixed list instead
    (a wildcard would not cover Authorization anyway). With an explicit origin list the
    Access-Control-Allow-Origin answer depends on the Origin, so every response says
    `Vary: Origin` for caches.
    """

    def __init__(
        self,
        origins: Iterable[str],
        allow_headers: Iterable[str] = ALLOW_HEADERS,
        expose_headers: Iterable[str] = EXPOSE_HEADERS,
    ) -> None:
        origins = tuple(origins)
        super().__init__(
            allow_origins="*" if "*" in origins else origins,
            expose_headers=expose_headers,
        )
        self._allow_headers = ", ".join(allow_headers)
        self._vary = self.allow_origins != "*"

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Apply Falcon's policy, then the fixed header list and Vary."""
        super().process_response(req, resp, resource, req_succeeded)
        if self._vary:
            resp.append_header("Vary", "Origin")
        if req.method == "OPTIONS" and resp.get_header("Access-Control-Allow-Headers"):
            resp.set_header("Access-Control-Allow-Headers", self._allow_headers)
