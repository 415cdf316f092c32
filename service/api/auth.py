"""Bearer-token (JWT) authentication of /api/ requests, off unless a key is configured.

Without JWT_SECRET or JWT_PUBLIC_KEY, `{user_id}` in the path is trusted as given (a
gateway in front is expected to vouch for it) and a warning says so at start. With one,
every /api/ request but OPTIONS (CORS preflight) needs `Authorization: Bearer <token>`:
the signature (one algorithm, fixed by the key), `exp` and `nbf` are checked, `iss` and
`aud` when configured, and the token's `sub` must be the path's `{user_id}`.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon
import jwt

from service.core.config import Config

logger = logging.getLogger("service.api.auth")

API_PREFIX = "/api/"

# The time claims a token may carry. PyJWT converts them with int(), so "exp": "9999999999"
# (a string) or 1e300 passed as a token that never expires.
TIME_CLAIMS = ("exp", "nbf", "iat")
# 9999-12-31T23:59:59Z: a NumericDate (RFC 7519 2) past it is no date this service can keep.
MAX_NUMERIC_DATE = 253_402_300_799

_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidAudienceError, "The token is not meant for this service."),
    (jwt.InvalidIssuerError, "The token comes from an issuer this service does not trust."),
    (jwt.MissingRequiredClaimError, "The token lacks a required claim (exp, sub)."),
    (jwt.InvalidSignatureError, "The token's signature does not verify."),
)


class Unauthorized(falcon.HTTPUnauthorized):
    """A 401 carrying the Bearer challenge of RFC 6750."""

    def __init__(self, description: str, invalid_token: bool) -> None:
        challenge = "Bearer"
        if invalid_token:
            challenge = f'Bearer error="invalid_token", error_description="{description}"'
        super().__init__(description=description, challenges=[challenge])


class JwtAuth:
    """Falcon middleware: check the bearer token of /api/ requests after routing."""

    def __init__(
        self,
        key: str,
        algorithm: str,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: int = 0,
    ) -> None:
        self._key = key
        self._algorithms = [algorithm]  # exactly one: no algorithm confusion, no "none"
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._options: dict[str, Any] = {
            "require": ["exp", "sub"],
            "verify_aud": audience is not None,
        }

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        if req.method == "OPTIONS" or not req.path.startswith(API_PREFIX):
            return
        claims = self.verify(_bearer_token(req))
        user_id = params.get("user_id")
        if user_id is not None and claims["sub"] != user_id:
            raise falcon.HTTPForbidden(description="The token's subject is not this user.")
        req.context.token_claims = claims

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise a 401 saying what is wrong with it."""
        claims = self._decode(token)
        for name in TIME_CLAIMS:
            value = claims.get(name)
            if value is not None and not _numeric_date(value):
                raise Unauthorized(
                    f"The token's {name} is not a NumericDate (seconds since 1970, a number).",
                    invalid_token=True,
                )
        if not isinstance(claims.get("sub"), str):
            raise Unauthorized("The token's sub is not a string.", invalid_token=True)
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=self._options,
            )
        except jwt.PyJWTError as error:
            reason = next(
                (text for kind, text in _REASONS if isinstance(error, kind)),
                "The token is malformed or not signed with an accepted key and algorithm.",
            )
            raise Unauthorized(reason, invalid_token=True) from None


def _numeric_date(value: object) -> bool:
    # A JSON number (never a bool, which is an int in Python) within years 1970-9999.
    return (
        type(value) in (int, float) and 0 <= value <= MAX_NUMERIC_DATE  # type: ignore[operator]
    )


def _bearer_token(req: falcon.Request) -> str:
    scheme, _, token = (req.auth or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("A bearer token is required (Authorization: Bearer <token>).", False)
    return token


def authentication(config: Config) -> JwtAuth | None:
    """Return the JWT middleware the config asks for, or None (and warn) when it is off."""
    if not config.jwt_enabled:
        logger.warning(
            "authentication is off: {user_id} in /api/ paths is trusted as given; "
            "set JWT_SECRET or JWT_PUBLIC_KEY unless a gateway in front authenticates users"
        )
        return None
    assert config.jwt_algorithm is not None
    key = config.jwt_secret if config.jwt_algorithm == "HS256" else config.jwt_public_key
    assert key is not None
    return JwtAuth(
        key,
        config.jwt_algorithm,
        issuer=config.jwt_issuer,
        audience=config.jwt_audience,
        leeway_seconds=config.jwt_leeway_seconds,
    )
