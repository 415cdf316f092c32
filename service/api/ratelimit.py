"""Rate limits of /api/ requests: a token bucket per user, or per client address.

The bucket is the user's when the request names one it may act for: the token's subject
with JWT configured, else the path's `{user_id}` (trusted as given, like everything else
then). Every other /api/ request (authentication failed or absent, no such route, a malformed
user id) is charged to the client address, so that guessing tokens or paths is limited too.

Every /api/ answer carries `RateLimit-Policy` and `RateLimit` (IETF httpapi ratelimit-headers
draft); a request past the limit gets a 429 problem with `Retry-After`. A request that
carries several operations (POST /batch) charges the rest with `charge_operations`.
"""

from __future__ import annotations

from typing import Any, Protocol

import falcon

from service.api.auth import API_PREFIX
from service.core.config import Config, RateLimit
from service.core.metrics import declare_rate_limit_metrics
from service.data.rate_buckets import Decision, LocalBuckets, RedisBuckets

POLICY_HEADER = "RateLimit-Policy"
STATE_HEADER = "RateLimit"
POLICY_NAME = "default"


class Buckets(Protocol):
    """What the middleware needs of a bucket store (LocalBuckets or RedisBuckets)."""

    limit: RateLimit

    def take(self, key: str, cost: int = 1) -> Decision:
        """Take `cost` tokens from `key`'s bucket, if it has them."""
        ...


class TooManyRequests(falcon.HTTPTooManyRequests):
    """A 429 carrying Retry-After and the bucket's state."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            description=f"Too many requests; retry after {decision.retry_after} s.",
            retry_after=decision.retry_after,
        )


class RateLimits:
    """Falcon middleware: charge each /api/ request to a bucket; 429 past the limit.

    It goes after authentication and the path checks in the middleware list, so that only
    a request that passed them is charged to a user. The others never reach its
    `process_resource` and are charged to their client address in `process_response`; past
    that address's limit their answer (a 401, 404, 422...) becomes a 429.
    """

    def __init__(self, buckets: Buckets, jwt_enabled: bool, trust_forwarded: bool) -> None:
        limit = buckets.limit
        self.buckets = buckets
        self._jwt = jwt_enabled
        self._trust_forwarded = trust_forwarded
        self._policy = f'"{POLICY_NAME}";q={limit.quota};w={limit.window_seconds}'

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        if not req.path.startswith(API_PREFIX):
            return
        if self._jwt:
            claims = getattr(req.context, "token_claims", None)
            user = claims["sub"] if claims is not None else None
        else:
            user = params.get("user_id")
        key = "u:" + user if user else "a:" + self.client_address(req)
        decision = self.buckets.take(key)
        req.context.rate_limit = decision
        req.context.rate_limit_key = key
        req.context.rate_limiter = self
        if not decision.allowed:
            raise TooManyRequests(decision)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        # getattr rather than Context.get: a C call instead of a Python one, on every request.
        decision = getattr(req.context, "rate_limit", None)
        if decision is None:
            if not req.path.startswith(API_PREFIX):
                return
            decision = self.buckets.take("a:" + self.client_address(req))
            if not decision.allowed:
                # The answer it was going to get is withheld: its challenge too.
                resp.delete_header("WWW-Authenticate")
                resp.delete_header("Allow")
                self._set_headers(resp, decision)
                raise TooManyRequests(decision)
        self._set_headers(resp, decision)

    def charge(self, req: falcon.Request, cost: int) -> None:
        """Take `cost` more tokens from the bucket this request was charged to; 429 if short."""
        key = req.context.get("rate_limit_key")
        if key is None or cost <= 0:
            return
        decision = self.buckets.take(key, cost)
        req.context.rate_limit = decision
        if not decision.allowed:
            raise TooManyRequests(decision)

    def client_address(self, req: falcon.Request) -> str:
        """Return the client's address: the peer, or what the trusted proxy in front saw."""
        if self._trust_forwarded:
            # Falcon lists the client first and the peer (the proxy) last; the entry before
            # the peer is the one the proxy itself added, which a client cannot forge.
            route = req.access_route
            if len(route) >= 2:
                return route[-2]
        return req.remote_addr or "unknown"

    def _set_headers(self, resp: falcon.Response, decision: Decision) -> None:
        resp.set_header(POLICY_HEADER, self._policy)
        resp.set_header(
            STATE_HEADER,
            f'"{POLICY_NAME}";r={decision.remaining};t={decision.reset_seconds}',
        )


def charge_operations(req: falcon.Request, operations: int) -> None:
    """Charge a request that carries `operations` operations (a batch) one token for each.

    The request itself already took one token on arrival; this takes the rest from the same
    bucket, raising a 429 when the bucket lacks them. Without rate limiting it does nothing.
    """
    limiter: RateLimits | None = req.context.get("rate_limiter")
    if limiter is not None:
        limiter.charge(req, operations - 1)


def rate_limits(config: Config) -> RateLimits | None:
    """Return the middleware the config asks for: shared through Redis, per process, or None."""
    limit = config.rate_limit
    if limit is None:
        return None
    if config.redis_url:
        declare_rate_limit_metrics()
        buckets: Buckets = RedisBuckets(
            limit,
            config.redis_url,
            config.rate_limit_redis_prefix,
            config.rate_limit_redis_timeout_ms / 1000,
            config.rate_limit_redis_retry_ms / 1000,
        )
    else:
        buckets = LocalBuckets(limit)
    return RateLimits(buckets, config.jwt_enabled, config.trust_forwarded_headers)
