"""Reviews over HTTP: a buyer rates what they bought; anyone reads; the seller moderates."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import (
    identity,
    json_body,
    read_body,
    require_identity,
    services,
)
from livecommerce.errors import BadRequest, Unavailable
from livecommerce.reviews.rules import PAGE_MAX, parse_cursor, parse_review_draft
from livecommerce.reviews.service import Reviews


def routes() -> list[BaseRoute]:
    """The reviews' routes, relative to /api/v1."""
    return [
        Route("/orders/{order_id}/reviews/{product_id}", put_review, methods=["PUT"]),
        Route("/orders/{order_id}/reviews/{product_id}", get_review, methods=["GET"]),
        Route("/orders/{order_id}/reviews/{product_id}", delete_review, methods=["DELETE"]),
        Route("/products/{product_id}/reviews", product_reviews, methods=["GET"]),
        Route("/sellers/{seller_id}/rating", seller_rating, methods=["GET"]),
        Route("/sellers/{seller_id}/reviews", seller_reviews, methods=["GET"]),
        Route("/sellers/{seller_id}/reviews/audit", reviews_audit, methods=["GET"]),
        Route("/reviews/mine", my_reviews, methods=["GET"]),
        Route("/reviews/{review_id}/report", report_review, methods=["POST"]),
        Route("/reviews/{review_id}/hide", hide_review, methods=["POST"]),
    ]


def desk(request: Request) -> Reviews:
    found = services(request).reviews
    if found is None:
        raise Unavailable("reviews are not running on this process", retry_after=5)
    return found


async def put_review(request: Request) -> JSONResponse:
    """
    summary: Rate a product of one's own paid order, and its seller (write or edit)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [product_rating, seller_rating]
            properties:
              product_rating: {type: integer, minimum: 1, maximum: 5}
              seller_rating: {type: integer, minimum: 1, maximum: 5}
              text: {type: string, maxLength: 1000}
    responses:
      201: {description: "{review}: written now"}
      200: {description: "{review}: the pair's review, edited (or unchanged: a retry)"}
      400: {description: bad_rating, review_too_long, bad_characters, blocked_word, bad_request}
      401: {description: unauthorized}
      404: {description: not_found (no such order of yours), product_not_in_order}
      409: {description: not_reviewable (awaiting payment, lapsed or refunded)}
    """
    who = require_identity(request)
    draft = parse_review_draft(await json_body(request))
    params = request.path_params
    review, created = await desk(request).put(who, params["order_id"], params["product_id"], draft)
    return JSONResponse({"review": review}, status_code=201 if created else 200)


async def my_reviews(request: Request) -> JSONResponse:
    """
    summary: The caller's own reviews, newest first (each with its order_id and product_id)
    responses:
      200: {description: "{reviews}"}
      401: {description: unauthorized}
    """
    who = require_identity(request)
    return JSONResponse({"reviews": await desk(request).of_user(who.id, PAGE_MAX)})


async def get_review(request: Request) -> JSONResponse:
    """
    summary: One's own review of a product of one's order
    responses:
      200: {description: "{review}"}
      401: {description: unauthorized}
      404: {description: not_found, product_not_in_order, review_not_found}
    """
    who = require_identity(request)
    params = request.path_params
    review = await desk(request).mine(who, params["order_id"], params["product_id"])
    return JSONResponse({"review": review})


async def delete_review(request: Request) -> Response:
    """
    summary: Take back one's review (both ratings lose it)
    responses:
      204: {description: deleted}
      401: {description: unauthorized}
      404: {description: not_found, product_not_in_order, review_not_found}
    """
    who = require_identity(request)
    params = request.path_params
    await desk(request).delete(who, params["order_id"], params["product_id"])
    return Response(status_code=204)


async def product_reviews(request: Request) -> JSONResponse:
    """
    summary: A product's rating and reviews, newest first (public)
    parameters:
      - {name: cursor, in: query, schema: {type: string}}
    responses:
      200: {description: "{product_id, rating {average, count}, reviews, next_cursor}"}
      400: {description: bad_request (a cursor this server did not give)}
      404: {description: not_found}
    """
    identity(request, required=False)
    offset = parse_cursor(request.query_params.get("cursor"))
    return JSONResponse(await desk(request).of_product(request.path_params["product_id"], offset))


async def seller_rating(request: Request) -> JSONResponse:
    """
    summary: A seller's (creator's) rating (public)
    responses:
      200: {description: "{seller_id, average, count, distribution {1..5}}"}
    """
    seller_id = request.path_params["seller_id"]
    rating = await desk(request).seller_rating(seller_id)
    return JSONResponse({"seller_id": seller_id, **rating.to_public()})


async def seller_reviews(request: Request) -> JSONResponse:
    """
    summary: A seller's reviews, newest first; with state=reported, the ones awaiting judgement
    description: >
      The reported list is the seller's or an operator's: each review with its words as
      written and how many people reported it, longest waiting first.
    parameters:
      - {name: state, in: query, schema: {type: string, enum: [reported]}}
      - {name: cursor, in: query, schema: {type: string}}
    responses:
      200: {description: "{seller_id, reviews, next_cursor}"}
      400: {description: bad_request}
      401: {description: unauthorized (state=reported)}
      403: {description: forbidden (state=reported, not the seller nor an operator)}
    """
    state = request.query_params.get("state")
    if state not in (None, "reported"):
        raise BadRequest("'state' may only be 'reported'")
    offset = parse_cursor(request.query_params.get("cursor"))
    who = identity(request, required=state == "reported")
    return JSONResponse(
        await desk(request).of_seller(
            who, request.path_params["seller_id"], offset, reported=state == "reported"
        )
    )


async def reviews_audit(request: Request) -> JSONResponse:
    """
    summary: What the seller and operators did to the seller's reviews, newest first
    responses:
      200: {description: "{entries}"}
      401: {description: unauthorized}
      403: {description: forbidden}
    """
    who = require_identity(request)
    entries = await desk(request).audit(who, request.path_params["seller_id"])
    return JSONResponse({"entries": entries})


async def report_review(request: Request) -> JSONResponse:
    """
    summary: Report a review to its seller (any signed-in person, once each)
    responses:
      200: {description: "{id, reported}"}
      401: {description: unauthorized}
      404: {description: review_not_found}
      429: {description: rate_limited}
    """
    who = require_identity(request)
    return JSONResponse(await desk(request).report(who, request.path_params["review_id"]))


async def hide_review(request: Request) -> JSONResponse:
    """
    summary: Hide a review's text, or show it again (the seller or an operator); audited
    description: The stars of a hidden review still count; only its words are not shown.
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {hidden: {type: boolean, default: true}}}
    responses:
      200: {description: "{review}"}
      400: {description: bad_request}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: review_not_found}
    """
    who = require_identity(request)
    raw = await read_body(request)
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON") from None
    hide = body.get("hidden", True) if isinstance(body, dict) else None
    if not isinstance(hide, bool):
        raise BadRequest('the body is {"hidden": true | false}, or empty')
    review = await desk(request).judge(who, request.path_params["review_id"], hide=hide)
    return JSONResponse({"review": review})
