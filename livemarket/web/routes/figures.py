"""Show dashboards and the season report: figures over HTTP, two console pages, the sampler.

``GET /api/v1/specials/{id}/figures`` (the special's host or an operator) and
``GET /api/v1/report`` / ``report.csv`` (operators) read stored data only; the pages draw
them with Chart.js and keep the dashboard live from the special's realtime socket.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from livemarket.accounts.roles import Access, Role, can_run_special
from livemarket.errors import NotFound
from livemarket.figures import store
from livemarket.figures.report import to_csv
from livemarket.web import templating
from livemarket.web.api import ApiRoutes, parse_query, path_int
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.fields import path_id
from livemarket.web.responses import json_response
from livemarket.web.typedefs import CLOCK_KEY, ENGINE_KEY, SETTINGS_KEY

routes = ApiRoutes()
TAGS = ("figures",)


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    view: Literal["day", "platform", "category", "special", "product"] = "special"


async def _show_or_404(request: web.Request, special_id: int) -> dict[str, object]:
    figures = await store.show(request.app[ENGINE_KEY], special_id, request.app[CLOCK_KEY]())
    if figures is None:
        raise NotFound("special_not_found", "No such special.")
    return figures


async def _host_and_title(request: web.Request, special_id: int) -> tuple[int, str]:
    found = await store.host_and_title(request.app[ENGINE_KEY], special_id)
    if found is None:
        raise NotFound("special_not_found", "No such special.")
    return found


@routes.get(
    "/api/v1/specials/{special_id}/figures",
    access=Access.HOST,
    tags=TAGS,
    summary="A special's figures minute by minute, its totals and its deals' sell-through",
    errors=(403, 404),
)
async def special_figures(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    host_id, _title = await _host_and_title(request, special_id)
    if not can_run_special(await principal(request), host_id):
        raise ApiError(403, "forbidden", "Only this special's host or an operator sees it.")
    return json_response(await _show_or_404(request, special_id))


@routes.get(
    "/api/v1/report",
    access=Access.OPERATOR,
    tags=TAGS,
    summary="The season report: per day, platform, category and special, and top products",
)
async def season_report(request: web.Request) -> web.Response:
    report = await store.season(
        request.app[ENGINE_KEY], request.app[SETTINGS_KEY].zone, templating.language(request)
    )
    return json_response(report.as_json())


@routes.get(
    "/api/v1/report.csv",
    access=Access.OPERATOR,
    query=ReportQuery,
    tags=TAGS,
    content_type="text/csv",
    summary="One view of the season report as CSV (UTF-8 with BOM)",
)
async def season_report_csv(request: web.Request) -> web.Response:
    view = parse_query(request, ReportQuery).view
    report = await store.season(
        request.app[ENGINE_KEY], request.app[SETTINGS_KEY].zone, templating.language(request)
    )
    return web.Response(
        text=to_csv(report, view),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="season-{view}.csv"'},
    )


# --- pages -----------------------------------------------------------------------------


async def _staff_or_login(request: web.Request) -> None:
    who = await principal(request)
    if who.role not in (Role.HOST, Role.OPERATOR):
        raise web.HTTPFound("/login?next=" + quote(request.path, safe="/"))


async def dashboard_page(request: web.Request) -> web.Response:
    """``/console/specials/{id}/dashboard``: the live dashboard (its host or an operator)."""
    await _staff_or_login(request)
    special_id = path_id(request.match_info["special_id"])
    if special_id is None:
        raise web.HTTPNotFound()
    try:
        host_id, title = await _host_and_title(request, special_id)
    except NotFound:
        raise web.HTTPNotFound() from None
    if not can_run_special(await principal(request), host_id):
        raise web.HTTPForbidden()
    return await templating.render(
        request,
        "console_dashboard.html",
        {
            "special_id": special_id,
            "title": title,
            "scripts": [
                "vendor/chart.umd.min.js",
                "js/realtime.js",
                "js/dashboard.js",
                "js/studio_simulcast.js",  # where the special also airs, live
            ],
            "bootstrap": {"special_id": special_id},
        },
    )


async def report_page(request: web.Request) -> web.Response:
    """``/console/report``: the season report with a chart per view, printable."""
    who = await principal(request)
    if who.role is not Role.OPERATOR:
        raise web.HTTPFound("/login?next=" + quote(request.path, safe="/"))
    report = await store.season(
        request.app[ENGINE_KEY], request.app[SETTINGS_KEY].zone, templating.language(request)
    )
    data = report.as_json()
    return await templating.render(
        request,
        "console_report.html",
        {
            "report": data,
            "scripts": ["vendor/chart.umd.min.js", "js/report.js"],
            "bootstrap": {"report": data},
        },
    )


# --- the sampler -----------------------------------------------------------------------


def setup(app: web.Application) -> None:
    """Routes and pages (the sampler is a service: ``web/services/figures.py``)."""
    routes.install(app)
    app.router.add_get("/console/specials/{special_id}/dashboard", dashboard_page)
    app.router.add_get("/console/report", report_page)
