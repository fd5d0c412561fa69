"""The operators' catalogue and people pages: ``/console/catalogue`` and ``/console/hosts``.

Shells: ``catalogue.js`` and ``people.js`` read and write through the JSON API.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from livemarket.accounts.roles import Role
from livemarket.checkout.catalog import Category
from livemarket.web import templating
from livemarket.web.auth import principal


async def operator_only(request: web.Request) -> web.Response | None:
    """Send a visitor without a login to log in; refuse a logged-in non-operator (403 page)."""
    who = await principal(request)
    if who.user_id is None:
        raise web.HTTPFound("/login?next=" + quote(request.path, safe="/"))
    if who.role is Role.OPERATOR:
        return None
    t = templating.translator(request)
    return await templating.render(
        request,
        "error.html",
        {"title": t("error.forbidden_title"), "message": t("console.operators_only")},
        status=403,
    )


async def catalogue_page(request: web.Request) -> web.Response:
    refused = await operator_only(request)
    if refused is not None:
        return refused
    t = templating.translator(request)
    names = {
        Category.FOOD: t("figures.category_food"),
        Category.BEAUTY: t("figures.category_beauty"),
        Category.LIVING: t("figures.category_living"),
        Category.FASHION: t("figures.category_fashion"),
    }
    return await templating.render(
        request,
        "console_catalogue.html",
        {
            "categories": [(c.value, names[c]) for c in Category],
            "scripts": ["js/catalogue.js"],
        },
    )


async def people_page(request: web.Request) -> web.Response:
    refused = await operator_only(request)
    if refused is not None:
        return refused
    return await templating.render(request, "console_people.html", {"scripts": ["js/people.js"]})


def setup(app: web.Application) -> None:
    app.router.add_get("/console/catalogue", catalogue_page)
    app.router.add_get("/console/hosts", people_page)
