"""Who is asking: the server's own tokens and a merchant's JWTs."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from livecommerce.accounts.auth import Authenticator, MerchantKeys
from livecommerce.errors import Unauthorized

SECRET = "server-secret-long-enough-for-hs256-signing"
MERCHANT = "merchant-secret-long-enough-for-hs256-sign"


def merchant_token(key: str | bytes, algorithm: str = "HS256", **claims: object) -> str:
    body = {"sub": "42", "name": "Shopper", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(body, key, algorithm=algorithm)


def test_server_tokens_round_trip_and_expire() -> None:
    auth = Authenticator(SECRET, MerchantKeys())
    now = int(time.time())
    token, expires_at = auth.issue("u_1", "Ada", now)
    assert expires_at == (now + auth.token_ttl_s) * 1000
    who = auth.verify(token)
    assert (who.id, who.name, who.kind) == ("u_1", "Ada", "account")
    old, _ = auth.issue("u_1", "Ada", now - auth.token_ttl_s - 10)
    with pytest.raises(Unauthorized, match="expired"):
        auth.verify(old)


def test_every_sign_in_is_a_session_of_its_own_that_can_be_signed_out() -> None:
    auth = Authenticator(SECRET, MerchantKeys())
    now = int(time.time())
    laptop, _ = auth.issue("u_1", "Ada", now)
    phone, _ = auth.issue("u_1", "Ada", now)
    on_laptop, on_phone = auth.verify(laptop), auth.verify(phone)
    assert on_laptop.session is not None
    assert on_laptop.session != on_phone.session
    assert auth.verify(laptop).session == on_laptop.session
    assert on_laptop.expires_at_s == now + auth.token_ttl_s


def test_a_merchant_token_is_signed_out_by_its_jti_or_else_its_iat() -> None:
    auth = Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT))
    by_jti = auth.verify(merchant_token(MERCHANT, jti="abc")).session
    assert by_jti is not None
    assert by_jti == auth.verify(merchant_token(MERCHANT, jti="abc", iat=5)).session
    assert by_jti != auth.verify(merchant_token(MERCHANT, jti="abc", sub="43")).session
    assert auth.verify(merchant_token(MERCHANT, iat=int(time.time()))).session is not None
    assert auth.verify(merchant_token(MERCHANT)).session is None  # cannot be signed out


def test_a_merchant_token_may_not_live_longer_than_the_maximum() -> None:
    clock = time.time
    day = MerchantKeys(hs256_secret=MERCHANT)
    auth = Authenticator(SECRET, day, clock=clock)
    assert auth.verify(merchant_token(MERCHANT, exp=int(clock()) + 86400)).id == "m:42"
    with pytest.raises(Unauthorized, match="'exp' is more than 86400 s ahead"):
        auth.verify(merchant_token(MERCHANT, exp=int(clock()) + 2 * 86400))
    hour = Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT, max_ttl_s=3600))
    with pytest.raises(Unauthorized, match="'exp' is more than 3600 s ahead"):
        hour.verify(merchant_token(MERCHANT, exp=int(clock()) + 7200))
    unbounded = Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT, max_ttl_s=0))
    assert unbounded.verify(merchant_token(MERCHANT, exp=int(clock()) + 365 * 86400)).id == "m:42"


def test_merchant_tokens_are_refused_unless_configured() -> None:
    auth = Authenticator(SECRET, MerchantKeys())
    with pytest.raises(Unauthorized):
        auth.verify(merchant_token(MERCHANT))


def test_hs256_merchant_tokens_name_their_users_apart() -> None:
    auth = Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT))
    who = auth.verify(merchant_token(MERCHANT))
    assert (who.id, who.name, who.kind) == ("m:42", "Shopper", "merchant")
    with pytest.raises(Unauthorized):
        auth.verify(merchant_token("a-different-secret-of-sufficient-length"))
    with pytest.raises(Unauthorized, match="expired"):
        auth.verify(merchant_token(MERCHANT, exp=int(time.time()) - 5))
    with pytest.raises(Unauthorized):
        auth.verify(jwt.encode({"sub": "42", "name": "x"}, MERCHANT, algorithm="HS256"))  # no exp


@pytest.mark.parametrize("name", ["Ada\u202eevil", "Ada\u200bShop", "\u2067Ada\u2069", "Ada\x07"])
def test_a_merchant_users_name_is_cleaned_like_a_display_name(name: str) -> None:
    auth = Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT))
    with pytest.raises(Unauthorized, match="'name' holds a control or invisible character"):
        auth.verify(merchant_token(MERCHANT, name=name))
    with pytest.raises(Unauthorized, match="'name' holds"):  # nor does 'sub' get in as the name
        auth.verify(merchant_token(MERCHANT, name=None, sub=name))
    assert auth.verify(merchant_token(MERCHANT, name=" Åse 👩‍💻 ")).name == "Åse 👩‍💻"
    assert auth.verify(merchant_token(MERCHANT, name="A" * 60)).name == "A" * 40


def test_a_merchant_cannot_pose_as_the_server() -> None:
    auth = Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT))
    with pytest.raises(Unauthorized):
        auth.verify(merchant_token(MERCHANT, iss="livecommerce", sub="u_admin"))


def test_rs256_merchant_tokens_with_issuer_and_audience() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keys = MerchantKeys(rs256_public_key=public_pem, issuer="https://shop.example", audience="live")
    auth = Authenticator(SECRET, keys)
    good = merchant_token(private_pem, "RS256", iss="https://shop.example", aud="live")
    assert auth.verify(good).id == "m:42"
    for bad in (
        merchant_token(private_pem, "RS256", iss="https://evil.example", aud="live"),
        merchant_token(private_pem, "RS256", iss="https://shop.example", aud="other"),
        merchant_token(private_pem, "RS256", aud="live"),
        merchant_token(MERCHANT, "HS256", iss="https://shop.example", aud="live"),
    ):
        with pytest.raises(Unauthorized):
            auth.verify(bad)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage_is_unauthorized(token: str) -> None:
    with pytest.raises(Unauthorized):
        Authenticator(SECRET, MerchantKeys(hs256_secret=MERCHANT)).verify(token)
