"""A special's sales for operators: totals (JSON) and its order lines (CSV)."""

from __future__ import annotations

from aiohttp import web

from livemarket.accounts.roles import Access
from livemarket.checkout import sales
from livemarket.web.api import ApiRoutes, path_int
from livemarket.web.responses import json_response
from livemarket.web.routes.checkout.shared import TAGS
from livemarket.web.typedefs import ENGINE_KEY, SETTINGS_KEY

routes = ApiRoutes()


@routes.get(
    "/api/v1/specials/{special_id}/sales",
    access=Access.OPERATOR,
    tags=TAGS,
    summary="Sales totals of a special (units, KRW, deal vs list)",
)
async def sales_summary(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    lines = await sales.sale_lines(request.app[ENGINE_KEY], special_id)
    return json_response({"special_id": special_id, **sales.summarize(lines)})


@routes.get(
    "/api/v1/specials/{special_id}/sales.csv",
    access=Access.OPERATOR,
    tags=TAGS,
    content_type="text/csv",
    summary="A special's order lines as CSV",
)
async def sales_csv(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    lines = await sales.sale_lines(request.app[ENGINE_KEY], special_id)
    return web.Response(
        text=sales.to_csv(lines, request.app[SETTINGS_KEY].zone),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="special-{special_id}-sales.csv"'},
    )
