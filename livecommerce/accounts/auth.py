"""Who is asking: server-issued tokens and merchant-issued JWTs.

Server tokens are HS256 JWTs signed with the server's own secret and issuer
``livecommerce``. Merchant tokens come from the operator's backend: HS256 with a shared
secret or RS256 with a public key, optionally with issuer and audience pinned. A merchant
user's id is namespaced (``m:<sub>``) so it can never collide with a built-in account.

Tokens are signed, not stored, so signing out cannot unsign one: it records the token's
*session* (a digest of its ``jti``, or of its ``sub`` and ``iat`` when it has none) as
revoked until the token's ``exp``, and every request and socket asks. A merchant token with
neither ``jti`` nor ``iat`` cannot be signed out, so merchant tokens may not live longer than
``MerchantKeys.max_ttl_s`` (24 hours by default).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from livecommerce.errors import BadRequest, Unauthorized
from livecommerce.runtime.ids import Ids
from livecommerce.text import NAME_MAX, clean_line, shorten

SERVER_ISSUER = "livecommerce"
TOKEN_MAX_LENGTH = 4096
CLOCK_SKEW_S = 60  # a merchant's clock may run this far ahead of ours


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    name: str
    kind: str  # "account" or "merchant"
    session: str | None = None  # what signing out revokes; None: this token cannot be
    expires_at_s: int = 0  # the token's exp, which is how long a revocation must be kept


@dataclass(frozen=True, slots=True)
class MerchantKeys:
    hs256_secret: str | None = None
    rs256_public_key: str | None = None
    issuer: str | None = None
    audience: str | None = None
    max_ttl_s: int = 86400  # 0: no maximum

    @property
    def enabled(self) -> bool:
        return bool(self.hs256_secret or self.rs256_public_key)


class Authenticator:
    def __init__(
        self,
        secret: str,
        merchant: MerchantKeys,
        token_ttl_s: int = 7 * 86400,
        *,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self._ids = ids or Ids()
        self._secret = secret
        self._merchant = merchant
        self.token_ttl_s = token_ttl_s
        self._clock = clock

    def issue(self, user_id: str, name: str, now_s: int) -> tuple[str, int]:
        expires = now_s + self.token_ttl_s
        claims = {
            "iss": SERVER_ISSUER,
            "sub": user_id,
            "name": name,
            "iat": now_s,
            "exp": expires,
            "jti": self._ids.session(),  # one per sign-in: what signing out revokes
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires * 1000

    def verify(self, token: str) -> Identity:
        if not token or len(token) > TOKEN_MAX_LENGTH:
            raise Unauthorized("missing or oversized token")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        if unverified.get("iss") == SERVER_ISSUER:
            claims = self._decode(token, self._secret, ["HS256"], issuer=SERVER_ISSUER)
            user_id = str(claims["sub"])
            name = str(claims.get("name") or "user")
            return Identity(user_id, name, "account", *_session(user_id, claims))
        if not self._merchant.enabled:
            raise Unauthorized("token not issued by this server")
        return self._verify_merchant(token)

    def _verify_merchant(self, token: str) -> Identity:
        m = self._merchant
        errors: list[str] = []
        for key, algorithm in ((m.hs256_secret, "HS256"), (m.rs256_public_key, "RS256")):
            if not key:
                continue
            try:
                claims = self._decode(token, key, [algorithm], issuer=m.issuer, audience=m.audience)
            except Unauthorized as exc:
                errors.append(exc.message)
                continue
            sub, name = claims.get("sub"), claims.get("name")
            if not isinstance(sub, str) or not 0 < len(sub) <= 128:
                raise Unauthorized("merchant token has no usable 'sub'")
            if m.max_ttl_s and claims["exp"] > self._clock() + m.max_ttl_s + CLOCK_SKEW_S:
                raise Unauthorized(
                    f"merchant token's 'exp' is more than {m.max_ttl_s} s ahead;"
                    " mint shorter-lived tokens"
                )
            if not isinstance(name, str) or not name.strip():
                name = sub
            try:
                shown = clean_line(shorten(name, NAME_MAX), "name", NAME_MAX)
            except BadRequest as exc:
                raise Unauthorized(f"merchant token: {exc.message}") from None
            return Identity(f"m:{sub}", shown, "merchant", *_session(f"m:{sub}", claims))
        raise Unauthorized(errors[0] if errors else "token rejected")

    @staticmethod
    def _decode(
        token: str,
        key: str,
        algorithms: list[str],
        issuer: str | None = None,
        audience: str | None = None,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"require": ["exp", "sub"]}
        if audience is None:
            options["verify_aud"] = False
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        return claims


def _session(user_id: str, claims: dict[str, Any]) -> tuple[str | None, int]:
    """The token's session (a digest, so keys and messages carry no token material) and exp.

    The user id is part of it, so no token can name another person's session.
    """
    jti, iat = claims.get("jti"), claims.get("iat")
    if isinstance(jti, str) and 0 < len(jti) <= 128:
        basis = f"{user_id}\njti\n{jti}"
    elif isinstance(iat, int | float) and not isinstance(iat, bool) and math.isfinite(iat):
        basis = f"{user_id}\niat\n{int(iat)}"
    else:
        return None, int(claims["exp"])
    return hashlib.blake2b(basis.encode(), digest_size=16).hexdigest(), int(claims["exp"])
