"""Tokens outlive nothing: a deleted account's tokens stop working on every route at once.

Server tokens are signed, not stored, so they stay valid until they expire; this one check
per authenticated request (a set membership in Redis) is what ends them when an account is
deleted.
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
                    if await services(request).store.is_deleted(who.id):
                        raise Unauthorized("this account has been deleted")
                    scope["identity"] = who  # the routes use it rather than verify again
                except LiveCommerceError as exc:
                    response = await on_error(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
