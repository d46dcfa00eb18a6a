"""Connection tokens, channel permissions, API keys and Origin checks.

Tokens are JWTs signed with HS256 and the configured secret. Claims:

- ``sub`` (required): the user id;
- ``exp``: expiry (seconds since epoch); an expired token is refused;
- ``info``: public user info (shown in presence);
- ``subscribe``: glob patterns of channels the user may subscribe to (a missing
  claim allows every channel); a pattern subscription (psubscribe) is allowed only
  when every channel it can match is matched by one of them (glob inclusion, exact,
  ``broker.globinclusion``), so a pattern never reaches past the token's channels;
- ``publish``: glob patterns of channels the user may publish on (a missing claim
  allows none).

With no secret configured the gateway runs in an open demo mode: connections are
anonymous (``anon-<random>``) and may subscribe and publish anywhere. An anonymous
connection may say a display name (``/ws?name=Alice``): it becomes its presence
``info`` (``{"name": "Alice"}``) and its user id (``guest:Alice``), so the demo chat
lists names and two tabs of one name are one user. The name proves nothing.
"""

from __future__ import annotations

import hmac
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from broker.glob import glob_match
from broker.globinclusion import includes
from gateway import errors

__all__ = ["AuthError", "Authenticator", "Identity", "issue_token", "MAX_NAME_LENGTH"]

# Longest display name an anonymous connection may give itself (?name=).
MAX_NAME_LENGTH = 40


class AuthError(Exception):
    """Refused: ``code`` is unauthorized, token_expired, invalid_token or forbidden."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _allowed(patterns: tuple[str, ...] | None, name: str) -> bool:
    if patterns is None:
        return True
    subject = name.encode()
    return any(glob_match(pattern.encode(), subject) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    info: Any = None
    # None: everything allowed; otherwise glob patterns of channels.
    subscribe: tuple[str, ...] | None = None
    publish: tuple[str, ...] | None = None

    def can_subscribe(self, channel: str) -> bool:
        """May subscribe to the channel named ``channel`` (taken literally)."""
        return _allowed(self.subscribe, channel)

    def can_psubscribe(self, pattern: str) -> bool:
        """May subscribe to the glob ``pattern``: every channel it matches is allowed.

        Exact over the union of the token's patterns (``broker.globinclusion``), within
        a work bound past which the answer is no. Cached per (patterns, pattern).
        """
        if self.subscribe is None:
            return True
        return includes(tuple(allowed.encode() for allowed in self.subscribe), pattern.encode())

    def can_publish(self, channel: str) -> bool:
        return _allowed(self.publish, channel)


def _patterns(claims: dict[str, Any], name: str, missing: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if name not in claims:
        return missing
    value = claims[name]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthError(errors.INVALID_TOKEN, f"claim '{name}' must be a list of channel patterns")
    return tuple(value)


class Authenticator:
    """Checks tokens, API keys and Origins with the gateway's settings."""

    def __init__(self, token_secret: str = "", api_key: str = "", allowed_origins: Sequence[str] = (),
                 anonymous: bool | None = None) -> None:
        self.token_secret = token_secret
        self.api_key = api_key
        self.allowed_origins = tuple(origin.rstrip("/") for origin in allowed_origins if origin)
        # Anonymous connections: allowed by default only in demo mode (no secret).
        self.anonymous = (not token_secret) if anonymous is None else anonymous

    def authenticate(self, token: str | None, name: str | None = None) -> Identity:
        """The identity a connection's token grants.

        Args:
            token: the JWT, if any.
            name: a display name an anonymous connection gives itself (at most
                MAX_NAME_LENGTH characters); ignored when a token is given.

        Raises:
            AuthError: missing token when one is required, expired or invalid token.
        """
        if not token:
            if self.anonymous:
                name = name[:MAX_NAME_LENGTH] if name else None
                # Tabs that give the same name are one user in presence (with one
                # connection each), as a signed-in user's tabs are.
                # (an id to tell connections apart, not a secret: no os.urandom call per connect)
                user = f"guest:{name}" if name else f"anon-{random.getrandbits(32):08x}"
                return Identity(user=user, info={"name": name} if name else None,
                                publish=None if not self.token_secret else ())
            raise AuthError(errors.UNAUTHORIZED, "a token is required: connect with ?token=<JWT>")
        if not self.token_secret:
            raise AuthError(errors.INVALID_TOKEN, "tokens are not enabled on this server (no token secret)")
        try:
            claims = jwt.decode(token, self.token_secret, algorithms=["HS256"],
                                options={"require": ["sub"]})
        except jwt.ExpiredSignatureError:
            raise AuthError(errors.TOKEN_EXPIRED, "the token has expired") from None
        except jwt.InvalidSignatureError:
            raise AuthError(errors.INVALID_TOKEN, "the token signature does not match") from None
        except jwt.MissingRequiredClaimError:
            raise AuthError(errors.INVALID_TOKEN, "the token has no 'sub' claim") from None
        except jwt.PyJWTError as exc:
            raise AuthError(errors.INVALID_TOKEN, f"the token is not valid: {exc}") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise AuthError(errors.INVALID_TOKEN, "claim 'sub' must be a non-empty string")
        return Identity(user=claims["sub"], info=claims.get("info"),
                        subscribe=_patterns(claims, "subscribe", None),
                        publish=_patterns(claims, "publish", ()))

    def check_api_key(self, authorization: str | None) -> None:
        """Accept ``Authorization: apikey <K>``; anything goes when no key is configured."""
        if not self.api_key:
            return
        if not authorization:
            raise AuthError(errors.UNAUTHORIZED, "missing Authorization header: send 'Authorization: apikey <key>'")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "apikey" or not hmac.compare_digest(value.strip().encode(), self.api_key.encode()):
            raise AuthError(errors.UNAUTHORIZED, "invalid API key")

    def origin_allowed(self, origin: str | None) -> bool:
        """Empty allow-list: any Origin. No Origin header (not a browser): allowed."""
        if not self.allowed_origins or origin is None:
            return True
        return "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins


def issue_token(secret: str, sub: str, *, ttl_seconds: int = 3600, info: Any = None,
                subscribe: Sequence[str] | None = None, publish: Sequence[str] | None = None) -> str:
    """A signed HS256 token for ``sub`` (for tests and ``fanout token``)."""
    claims: dict[str, Any] = {"sub": sub, "exp": int(time.time()) + ttl_seconds}
    if info is not None:
        claims["info"] = info
    if subscribe is not None:
        claims["subscribe"] = list(subscribe)
    if publish is not None:
        claims["publish"] = list(publish)
    return jwt.encode(claims, secret, algorithm="HS256")
