"""JSON errors in the contract's shape, and the middleware that maps domain errors to HTTP."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from livemarket.errors import DomainError, ErrorKind
from livemarket.web.outages import outage_of
from livemarket.web.responses import json_response
from livemarket.web.shop_metrics import count_outage, count_refusal

log = logging.getLogger(__name__)

#: Renders a page's "not found" for people (set by the pages part); JSON is for the rest.
HTML_NOT_FOUND_KEY: web.AppKey[Callable[[web.Request], Awaitable[web.Response]]] = web.AppKey(
    "html_not_found"
)

STATUS_BY_KIND = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.LIMITED: 429,
    ErrorKind.PRECONDITION: 412,
    ErrorKind.UNAVAILABLE: 503,
}

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(Exception):
    """An HTTP-level refusal raised by handlers: status, stable code, message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> web.Response:
    """``{"error": {"code", "message", ...details}}`` with ``status``."""
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(details or {})
    return json_response({"error": body}, status=status, headers=headers)


def _wants_json(request: web.Request) -> bool:
    path = request.path
    return path.startswith(
        ("/api/", "/whip/", "/whep/", "/hls/", "/healthz", "/ws/")
    ) or "application/json" in request.headers.get("Accept", "")


#: Detail values an error body carries (a tuple: ``str | int`` would be rebuilt per item).
_SCALARS = (str, int, float, bool)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain, API and HTTP errors into the contract's JSON error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        count_refusal(request, exc.code)
        return error_response(
            exc.status, exc.code, exc.message, headers=exc.headers, details=exc.details
        )
    except DomainError as exc:
        count_refusal(request, exc.code)
        details = {k: v for k, v in exc.details.items() if isinstance(v, _SCALARS)}
        # A refusal that says when to come back says it in the header too (RFC 9110);
        # a 503 always does.
        retry_after = details.get("retry_after")
        headers = None
        if isinstance(retry_after, int | float):
            headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        elif exc.kind is ErrorKind.UNAVAILABLE:
            headers = {"Retry-After": "1"}
        return error_response(
            STATUS_BY_KIND[exc.kind], exc.code, exc.message, headers=headers, details=details
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if not _wants_json(request):
            render_not_found = request.app.get(HTML_NOT_FOUND_KEY)
            if exc.status == 404 and render_not_found is not None:
                return await render_not_found(request)
            raise
        code = _CODE_BY_STATUS.get(exc.status, "http_error")
        count_refusal(request, code)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(exc.status, code, exc.reason, headers=headers)
    except Exception as exc:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            raise  # the socket may be open already: no HTTP answer can follow
        return _unexpected(request, exc)


def _unexpected(request: web.Request, exc: Exception) -> web.Response:
    """A dependency that is away is a 503 with its code and Retry-After; anything else a
    JSON 500 (logged with its traceback). Pages get the same statuses as short HTML."""
    outage = outage_of(exc)
    if outage is None:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        status, code, message, headers = 500, "internal_error", "Something went wrong.", {}
    else:
        log.warning("%s on %s %s: %r", outage.code, request.method, request.path, exc)
        count_outage(request, outage.code)
        status, code, message = 503, outage.code, outage.message
        headers = {"Retry-After": str(outage.retry_after_s)}
    if _wants_json(request):
        return error_response(status, code, message, headers=headers)
    page = f"<!doctype html><title>{status}</title><p>{message}</p>"
    return web.Response(status=status, text=page, content_type="text/html", headers=headers)
