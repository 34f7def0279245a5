"""Built-in accounts: what a valid sign-up is, and how passwords are kept.

Passwords are hashed with argon2id (memory-hard), never stored or logged in clear. The
hasher is shared because argon2-cffi's parameters are part of every hash it makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livecommerce.errors import BadRequest
from livecommerce.text import NAME_MAX, clean_line

_USERNAME = re.compile(r"^[a-z0-9_.-]{3,32}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 256
DISPLAY_NAME_MAX = NAME_MAX

_hasher = PasswordHasher()
# A hash to verify against when the account does not exist, so that timing does not tell
# an attacker which usernames are taken.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True, slots=True)
class SignUp:
    username: str
    password: str
    display_name: str


def parse_sign_up(body: object) -> SignUp:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    username = body.get("username")
    password = body.get("password")
    display_name = body.get("display_name", username)
    if not isinstance(username, str) or not _USERNAME.match(username.lower()):
        raise BadRequest("'username' must be 3 to 32 of a-z, 0-9, '_', '.', '-'")
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise BadRequest(f"'password' must be {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    display_name = clean_line(display_name, "display_name", DISPLAY_NAME_MAX)
    return SignUp(username.lower(), password, display_name)


def parse_credentials(body: object) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequest("'username' and 'password' must be strings")
    if len(username) > 64 or len(password) > PASSWORD_MAX:
        raise BadRequest("'username' or 'password' is too long")
    return username.lower(), password


def parse_password(body: object) -> str:
    """The password that confirms an account's deletion."""
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(password, str):
        raise BadRequest("confirm with your 'password'")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
