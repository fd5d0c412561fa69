"""Fault drills: a flash sale over two instances while Redis restarts or PostgreSQL stops.

Starts its own ``redis-server`` (no persistence) and ``initdb`` cluster (as the
``postgres`` user when run as root), two ``python -m livemarket serve``
instances per drill, and races buyers for a deal (one unit per order; a 503 is
retried with the same Idempotency-Key after its Retry-After). A third of the way
in, the dependency goes away for real (Redis: stopped and started again empty;
PostgreSQL: ``pg_ctl stop -m fast``, then started again).

Prints ONE JSON line, per drill: ``outage_s`` (how long the dependency was away),
``orders_answered`` (orders the clients hold: 201s plus replays of a retried key),
``orders_in_db``, ``units_sold_ledger`` (Redis's and the database's counters),
``oversold_units`` and ``leaked_units`` (both must be 0), ``answers_5xx`` by
code, ``non_contract_answers`` (must be 0), ``recovery_s`` (from the dependency
being back to the next order answered 201) and ``exact``.

    python bench/faults.py [--units 600] [--buyers 24] [--redis-down 1.0] [--pg-down 3.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.drill import Sale, Tally, open_sale, race_with_fault, settled_audit  # noqa: E402
from tests.faults.harness import (  # noqa: E402
    PostgresCluster,
    RedisServer,
    postgres_missing,
    redis_missing,
    start_apps,
)


def _report(
    sale: Sale, tally: Tally, found: Any, down: tuple[float, float], back_at: float
) -> dict[str, Any]:
    stock_sold_redis = None if found.stock_redis is None else sale.stock - found.stock_redis
    held = found.units_in_orders
    five = {k.split(" ", 1)[1]: v for k, v in tally.answers.items() if k.startswith("5")}
    after = [t for t in tally.created_at if t >= back_at]
    return {
        "outage_s": round(down[1] - down[0], 2),
        "orders_answered": len(tally.order_ids),
        "answered_201": tally.created,
        "replayed_200": tally.replayed,
        "orders_in_db": len(found.order_ids),
        "answered_not_in_db": len(tally.order_ids - found.order_ids),
        "units_in_orders": held,
        "units_sold_ledger": {
            "redis_stock": stock_sold_redis,
            "redis_deal": None
            if found.deal_left_redis is None
            else sale.units - found.deal_left_redis,
            "db_stock": sale.stock - found.product_stock_db,
            "db_deal": found.deal_sold_db,
        },
        "oversold_units": max(0, held - sale.stock),
        "leaked_units": max(
            0, (stock_sold_redis or 0) - held, sale.stock - found.product_stock_db - held
        ),
        "answers_5xx": five,
        "non_contract_answers": len(tally.bad),
        "recovery_s": round(after[0] - back_at, 3) if after else None,
        "exact": (
            not tally.bad
            and tally.order_ids == found.order_ids
            and held == sale.stock
            and found.units_in_deal_orders == sale.units
            and (found.stock_redis, found.product_stock_db) == (0, 0)
            and (found.deal_left_redis, found.deal_sold_db) == (0, sale.units)
        ),
    }


async def drill(
    name: str,
    cluster: PostgresCluster,
    redis: RedisServer,
    folder: Path,
    args: argparse.Namespace,
    fault: Callable[[list[float]], None],
) -> dict[str, Any]:
    database = await cluster.create_database(f"bench_{name}_{uuid.uuid4().hex[:6]}")
    prefix = f"{name}:"  # a deployment of its own on the shared Redis
    env = {
        "LIVEMARKET_DATABASE_URL": database,
        "LIVEMARKET_REDIS_URL": redis.url,
        "LIVEMARKET_REDIS_PREFIX": prefix,
        "LIVEMARKET_SECRET_KEY": secrets.token_urlsafe(32),
        "LIVEMARKET_LOG_LEVEL": "WARNING",
        "LIVEMARKET_RECORDINGS": "false",
    }
    apps = await start_apps(2, env, folder / name)
    try:
        sale = await open_sale(database, apps[0].url, args.units)
        times: list[float] = []
        tally, back_at = await race_with_fault(
            [a.url for a in apps], sale, args.buyers, args.units // 3, lambda: fault(times)
        )
        found = await settled_audit(database, redis.url, prefix, sale)
    finally:
        for app in apps:
            app.stop()
    return _report(sale, tally, found, (times[0], times[1]), back_at)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    for reason in (redis_missing(), postgres_missing()):
        if reason:
            raise SystemExit(f"bench/faults.py: {reason}")
    folder = Path(tempfile.mkdtemp(prefix="lm-faults-"))
    redis = RedisServer()
    cluster = PostgresCluster()
    redis.start()
    cluster.init()
    cluster.start()
    try:

        def redis_restart(times: list[float]) -> None:
            times.append(time.monotonic())
            redis.stop()
            time.sleep(args.redis_down)
            redis.start()
            times.append(time.monotonic())

        def postgres_stop(times: list[float]) -> None:
            times.append(time.monotonic())
            cluster.stop("fast")
            time.sleep(args.pg_down)
            cluster.start()
            times.append(time.monotonic())

        return {
            "bench": "faults",
            "instances": 2,
            "units": args.units,
            "buyers": args.buyers,
            "redis_restart": await drill("redis", cluster, redis, folder, args, redis_restart),
            "postgres_stop": await drill("pg", cluster, redis, folder, args, postgres_stop),
        }
    finally:
        redis.close()
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=600, help="deal units (stock is 50 more)")
    parser.add_argument("--buyers", type=int, default=24, help="concurrent buyers")
    parser.add_argument("--redis-down", type=float, default=1.0, help="seconds Redis is away")
    parser.add_argument("--pg-down", type=float, default=3.0, help="seconds PostgreSQL is away")
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(_args())), ensure_ascii=False), flush=True)
