"""Sign-up, sign-in and who-am-I."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse

from livecommerce.accounts import hash_password, parse_credentials, parse_sign_up, verify_password
from livecommerce.api.services import json_body, require_identity, services
from livecommerce.errors import Unauthorized


def _public(account: dict[str, str]) -> dict[str, str]:
    return {
        "id": account["id"],
        "username": account["username"],
        "display_name": account["display_name"],
    }


async def create_account(request: Request) -> JSONResponse:
    """
    summary: Register an account
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [username, password]
            properties:
              username: {type: string}
              password: {type: string}
              display_name: {type: string}
    responses:
      201: {description: "{id, username, display_name}"}
      400: {description: bad_request}
      409: {description: conflict (username taken)}
    """
    svc = services(request)
    sign_up = parse_sign_up(await json_body(request))
    account = {
        "id": "u_" + secrets.token_urlsafe(9),
        "username": sign_up.username,
        "display_name": sign_up.display_name,
        "password_hash": hash_password(sign_up.password),
        "created_at": str(svc.now_ms()),
    }
    await svc.store.create_account(account)
    return JSONResponse(_public(account), status_code=201)


async def create_session(request: Request) -> JSONResponse:
    """
    summary: Sign in and get a token
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [username, password]}
    responses:
      200: {description: "{token, expires_at, user}"}
      401: {description: unauthorized}
    """
    svc = services(request)
    username, password = parse_credentials(await json_body(request))
    account = await svc.store.account_by_username(username)
    if not verify_password(account["password_hash"] if account else None, password) or not account:
        raise Unauthorized("wrong username or password")
    token, expires_at = svc.auth.issue(account["id"], account["display_name"], svc.now_ms() // 1000)
    return JSONResponse({"token": token, "expires_at": expires_at, "user": _public(account)})


async def me(request: Request) -> JSONResponse:
    """
    summary: The signed-in user
    responses:
      200: {description: "{id, name, kind}"}
      401: {description: unauthorized}
    """
    who = require_identity(request)
    return JSONResponse({"id": who.id, "name": who.name, "kind": who.kind})
