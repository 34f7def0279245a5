"""Who is asking: server-issued tokens and merchant-issued JWTs.

Server tokens are HS256 JWTs signed with the server's own secret and issuer
``livecommerce``. Merchant tokens come from the operator's backend: HS256 with a shared
secret or RS256 with a public key, optionally with issuer and audience pinned. A merchant
user's id is namespaced (``m:<sub>``) so it can never collide with a built-in account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from livecommerce.errors import BadRequest, Unauthorized
from livecommerce.text import NAME_MAX, clean_line, shorten

SERVER_ISSUER = "livecommerce"
TOKEN_MAX_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    name: str
    kind: str  # "account" or "merchant"


@dataclass(frozen=True, slots=True)
class MerchantKeys:
    hs256_secret: str | None = None
    rs256_public_key: str | None = None
    issuer: str | None = None
    audience: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.hs256_secret or self.rs256_public_key)


class Authenticator:
    def __init__(self, secret: str, merchant: MerchantKeys, token_ttl_s: int = 7 * 86400):
        self._secret = secret
        self._merchant = merchant
        self.token_ttl_s = token_ttl_s

    def issue(self, user_id: str, name: str, now_s: int) -> tuple[str, int]:
        expires = now_s + self.token_ttl_s
        claims = {"iss": SERVER_ISSUER, "sub": user_id, "name": name, "iat": now_s, "exp": expires}
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
            return Identity(str(claims["sub"]), str(claims.get("name") or "user"), "account")
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
            if not isinstance(name, str) or not name.strip():
                name = sub
            try:
                shown = clean_line(shorten(name, NAME_MAX), "name", NAME_MAX)
            except BadRequest as exc:
                raise Unauthorized(f"merchant token: {exc.message}") from None
            return Identity(f"m:{sub}", shown, "merchant")
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
