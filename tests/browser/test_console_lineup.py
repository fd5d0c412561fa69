"""A special's line-up in the console: ticked products in order, reordered with the arrows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from livemarket.accounts.service import create_user
from livemarket.checkout.models import Product
from livemarket.scheduler.models import Special, SpecialProduct
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD

SEOUL = ZoneInfo("Asia/Seoul")


async def test_the_operator_reorders_and_extends_a_lineup(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """With tangerines then honey in the line-up, the operator ticks jam (added last) and
    moves honey to the top: the special's line-up is honey, tangerines, jam."""
    sessions = live_server.app[SESSIONS_KEY]
    await create_user(sessions, username="op", password=PASSWORD, role="operator")
    host = await create_user(sessions, username="minji", password=PASSWORD, role="host")
    start = (datetime.now(SEOUL) + timedelta(days=1)).replace(
        hour=19, minute=0, second=0, microsecond=0
    )
    async with sessions() as db:
        made = [
            Product(sku=f"P{i}", name=name, name_en=en, category="food", price=10_000, stock=5)
            for i, (name, en) in enumerate((("감귤", "Tangerines"), ("꿀", "Honey"), ("잼", "Jam")))
        ]
        db.add_all(made)
        await db.flush()
        special = Special(
            title="Line-up night",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            host_id=host.id,
        )
        db.add(special)
        await db.flush()
        db.add_all(
            SpecialProduct(special_id=special.id, product_id=p.id, position=i)
            for i, p in enumerate(made[:2])
        )
        await db.commit()
        ids = [p.id for p in made]
    page: Any = await new_page(locale="en-US")
    await login_as(
        page, live_server, "op", PASSWORD, next_path=f"/console?from={start.date().isoformat()}"
    )
    await page.locator(".cw-block", has_text="Line-up night").click()
    lineup = page.locator("[data-console-lineup] li")
    names = [await item.locator("span").inner_text() for item in await lineup.all()]
    assert names == ["Tangerines", "Honey"]
    await page.get_by_label("Jam").check()
    await page.get_by_role("button", name="Move up: Honey").click()
    names = [await item.locator("span").inner_text() for item in await lineup.all()]
    assert names == ["Honey", "Tangerines", "Jam"]
    await page.get_by_role("button", name="Save").click()
    await page.locator("#lm-special-dialog").wait_for(state="hidden")
    async with sessions() as db:
        rows = await db.scalars(
            select(SpecialProduct.product_id)
            .where(SpecialProduct.special_id == special.id)
            .order_by(SpecialProduct.position)
        )
        assert list(rows) == [ids[1], ids[0], ids[2]]
    assert page_errors.errors == []
