"""Sign-up, sign-in, sign-out, who-am-I, export and erasure: each route parses its request and
answers with what the account desk (``accounts/service.py``) did."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from livecommerce.accounts.credentials import parse_credentials, parse_password, parse_sign_up
from livecommerce.accounts.service import public, require_own_account
from livecommerce.api.services import client_address, json_body, require_identity, services


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
    sign_up = parse_sign_up(await json_body(request))
    account = await services(request).accounts.sign_up(sign_up, client_address(request))
    return JSONResponse(public(account), status_code=201)


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
    username, password = parse_credentials(await json_body(request))
    signed_in = await services(request).accounts.sign_in(
        username, password, client_address(request)
    )
    return JSONResponse(
        {
            "token": signed_in.token,
            "expires_at": signed_in.expires_at,
            "user": public(signed_in.account),
        }
    )


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
    await services(request).accounts.sign_out(require_identity(request))
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
    return JSONResponse(await services(request).accounts.export(require_identity(request)))


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
    who = require_identity(request)
    require_own_account(who)  # refused before its body is read
    password = parse_password(await json_body(request))
    await services(request).accounts.delete(who, password)
    return Response(status_code=204)
