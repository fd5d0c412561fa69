"""Model round-trips on SQLite and PostgreSQL: money stays integer KRW, times stay aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from livemarket.accounts.models import User
from livemarket.chat.models import ChatBan, ChatMessage
from livemarket.checkout.models import FlashDeal, Order, OrderLine, Product
from livemarket.scheduler.models import PlannedDeal, Platform, Special, SpecialProduct
from livemarket.storage.engine import create_engine, session_factory

SEOUL = timezone(timedelta(hours=9))


async def test_full_graph_round_trips(database_url: str) -> None:
    """Every table round-trips; a Seoul time comes back as the same instant in UTC."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    start = datetime(2021, 12, 18, 19, 0, tzinfo=SEOUL)
    try:
        async with sessions.begin() as db:
            host = User(username="h", display_name="호스트", role="host", password_hash="x")
            platform = Platform(slug="grip", name="Grip", name_ko="그립")
            product = Product(sku="F1", name="제주 감귤", category="food", price=12_900, stock=50)
            db.add_all([host, platform, product])
            await db.flush()
            special = Special(
                title="감귤 특가",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                host_id=host.id,
                platform_id=platform.id,
            )
            db.add(special)
            await db.flush()
            deal = FlashDeal(
                special_id=special.id,
                product_id=product.id,
                discount_pct=30,
                original_price=12_900,
                price=9_030,
                starts_at=start,
                ends_at=start + timedelta(minutes=5),
                quantity=10,
            )
            db.add_all([SpecialProduct(special_id=special.id, product_id=product.id), deal])
            await db.flush()
            order = Order(
                idempotency_key="k:1",
                buyer_key="v:1",
                special_id=special.id,
                buyer_name="김민수",
                buyer_phone="010-1234-5678",
                buyer_address="서울시 마포구",
                total=9_030,
                hold_expires_at=start + timedelta(minutes=10),
            )
            db.add(order)
            await db.flush()
            db.add_all(
                [
                    OrderLine(
                        order_id=order.id,
                        product_id=product.id,
                        quantity=1,
                        unit_price=9_030,
                        list_price=12_900,
                        deal_id=deal.id,
                    ),
                    PlannedDeal(
                        special_id=special.id,
                        product_id=product.id,
                        offset_s=600,
                        discount_pct=20,
                        duration_s=300,
                        quantity=5,
                    ),
                    ChatMessage(
                        id=1,
                        special_id=special.id,
                        author_key="v:1",
                        nickname="<b>me</b>",
                        text="안녕하세요",
                    ),
                    ChatBan(special_id=special.id, author_key="v:2"),
                ]
            )
        async with sessions() as db:
            loaded = await db.scalar(select(Special))
            assert loaded is not None
            assert loaded.starts_at == start
            assert loaded.starts_at.tzinfo is UTC
            assert loaded.starts_at.hour == 10  # 19:00 in Seoul is 10:00 UTC
            line = await db.scalar(select(OrderLine))
            assert line is not None and (line.unit_price, line.list_price) == (9_030, 12_900)
            message = await db.scalar(select(ChatMessage))
            assert message is not None and message.nickname == "<b>me</b>"
            assert message.text == "안녕하세요"
    finally:
        await engine.dispose()


async def test_constraints_refuse_bad_rows(database_url: str) -> None:
    """The schema itself refuses negative stock and a special that ends before it starts."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        with pytest.raises(IntegrityError):
            async with sessions.begin() as db:
                db.add(Product(sku="X", name="x", category="food", price=1000, stock=-1))
        with pytest.raises(IntegrityError):
            async with sessions.begin() as db:
                host = User(username="h", display_name="h", role="host", password_hash="x")
                db.add(host)
                await db.flush()
                now = datetime.now(UTC)
                db.add(
                    Special(
                        title="t",
                        starts_at=now,
                        ends_at=now - timedelta(minutes=1),
                        host_id=host.id,
                    )
                )
    finally:
        await engine.dispose()


async def test_naive_datetimes_are_refused(sqlite_url: str) -> None:
    """Storing a time without an offset is a bug and fails loudly."""
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    try:
        with pytest.raises(Exception, match="aware datetime"):
            async with sessions.begin() as db:
                db.add(
                    User(
                        username="u",
                        display_name="u",
                        role="host",
                        password_hash="x",
                        created_at=datetime(2021, 12, 18, 10, 0),
                    )
                )
    finally:
        await engine.dispose()
