"""Sign-up, sign-in and who-am-I."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from livecommerce.accounts.credentials import parse_credentials, parse_sign_up
from livecommerce.api.services import client_address, json_body, require_identity, services
from livecommerce.errors import BadRequest, Unauthorized

# A revocation is kept until its token expires; tokens with an 'exp' further ahead than this
# (only merchant ones, with --jwt-max-ttl-s 0) are remembered as signed out this long.
REVOCATION_MAX_MS = 366 * 86400 * 1000


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
      429: {description: rate_limited (many new accounts from one address are slowed down)}
    """
    svc = services(request)
    sign_up = parse_sign_up(await json_body(request))
    await svc.limiter.check(svc.settings.limit("signup"), client_address(request))
    account = {
        "id": svc.ids.user(),
        "username": sign_up.username,
        "display_name": sign_up.display_name,
        "password_hash": await svc.passwords.hash(sign_up.password),
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
      429: {description: "rate_limited: many attempts from one address, or many wrong passwords
        for this username from this address (elsewhere the owner still signs in)"}
    """
    svc = services(request)
    username, password = parse_credentials(await json_body(request))
    address = client_address(request)
    await svc.limiter.check(svc.settings.limit("signin"), address)
    ticket = await svc.limiter.sign_in_attempt(
        svc.settings.limit("signin_failures"),
        svc.settings.limit("signin_account"),
        username,
        address,
    )
    account = await svc.store.account_by_username(username)
    stored_hash = account["password_hash"] if account else None
    if not await svc.passwords.verify(stored_hash, password) or not account:
        raise Unauthorized("wrong username or password")
    await svc.limiter.sign_in_succeeded(ticket)
    token, expires_at = svc.auth.issue(account["id"], account["display_name"], svc.now_ms() // 1000)
    return JSONResponse({"token": token, "expires_at": expires_at, "user": _public(account)})


async def delete_session(request: Request) -> Response:
    """
    summary: Sign out the token this request carries, on every process
    description: >
      The token is refused from then on by every route and every process, and sockets open
      with it are closed with 4401. A merchant JWT is signed out by its 'jti' (or, without
      one, its 'sub' and 'iat'); one with neither cannot be and ends at its 'exp'.
    responses:
      204: {description: signed out}
      400: {description: "bad_request (a merchant JWT with neither 'jti' nor 'iat')"}
      401: {description: unauthorized}
    """
    svc = services(request)
    who = require_identity(request)
    if who.session is None:
        raise BadRequest("this token has neither 'jti' nor 'iat', so it ends only at its 'exp'")
    now_ms = svc.now_ms()
    until_ms = min(who.expires_at_s * 1000, now_ms + REVOCATION_MAX_MS)
    await svc.store.revoke_session(who.session, max(until_ms, now_ms + 1000))
    return Response(status_code=204)


async def me(request: Request) -> JSONResponse:
    """
    summary: The signed-in user
    responses:
      200: {description: "{id, name, kind}"}
      401: {description: unauthorized}
    """
    who = require_identity(request)
    return JSONResponse({"id": who.id, "name": who.name, "kind": who.kind})


async def export_me(request: Request) -> JSONResponse:
    """
    summary: Everything the server keeps about the signed-in person, as JSON
    description: >
      The account, the person's orders, and their chat lines still in the rooms' recent
      history (each room keeps its latest lines, as set by --stream-max-len).
    responses:
      200: {description: "{exported_at, account, orders, messages}"}
      401: {description: unauthorized}
    """
    svc = services(request)
    who = require_identity(request)
    account = await svc.store.account(who.id) if who.kind == "account" else None
    messages = []
    for room_id in await svc.chat.rooms_of(who.id):
        for line in await svc.moderators.moderation.messages_of(room_id, who.id, limit=10_000):
            messages.append({"room_id": room_id, **line})
    return JSONResponse(
        {
            "exported_at": svc.now_ms(),
            "account": {**_public(account), "created_at": int(account["created_at"])}
            if account
            else {"id": who.id, "name": who.name, "kind": who.kind},
            "orders": await svc.checkout.orders_of_buyer(who.id, limit=10_000),
            "messages": messages,
        }
    )


async def delete_me(request: Request) -> Response:
    """
    summary: Delete the signed-in account (its password confirms it)
    description: >
      The username is freed, every token of the account stops working at once, and its chat
      lines are shown without its name from then on. Orders stay with the merchant.
    requestBody: {content: {application/json: {schema: {type: object, required: [password],
      properties: {password: {type: string}}}}}}
    responses:
      204: {description: deleted}
      400: {description: bad_request (a merchant's user is deleted by the merchant)}
      401: {description: unauthorized (wrong password)}
    """
    svc = services(request)
    who = require_identity(request)
    if who.kind != "account":
        raise BadRequest("this identity belongs to a merchant; ask them to delete it")
    body = await json_body(request)
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(password, str):
        raise BadRequest("confirm with your 'password'")
    account = await svc.store.account(who.id)
    if account is None or not await svc.passwords.verify(account["password_hash"], password):
        raise Unauthorized("wrong password")
    await svc.store.delete_account(account)
    return Response(status_code=204)
