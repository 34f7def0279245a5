"""Tokens outlive nothing: a deleted account's or a signed-out token stops working at once.

Tokens are signed, not stored, so they stay valid until they expire; this one check per
authenticated request (a set membership and a key lookup in Redis, asked together) is what
ends them when an account is deleted or a token is signed out, on every route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from livecommerce.api.problems import on_error
from livecommerce.api.services import bearer, services
from livecommerce.errors import LiveCommerceError, Unauthorized


class DeletedAccounts:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            token = bearer(request)
            if token is not None:
                try:
                    who = services(request).auth.verify(token)
                    refusal = await services(request).accounts.refusal(who.id, who.session)
                    if refusal is not None:
                        raise Unauthorized(refusal)
                    scope["identity"] = who  # the routes use it rather than verify again
                except LiveCommerceError as exc:
                    response = await on_error(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
