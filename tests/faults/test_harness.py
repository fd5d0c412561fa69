"""The fault harness itself: a race over two real instances on throwaway Redis and
PostgreSQL sells exactly (the baseline every drill compares against)."""

from __future__ import annotations

from tests.faults.conftest import StartApps
from tests.faults.drill import assert_exact, open_sale, race, settled_audit
from tests.faults.harness import RedisServer


async def test_a_race_without_faults_sells_exactly(
    fault_apps: StartApps, fault_database: str, fault_redis: RedisServer
) -> None:
    apps = await fault_apps(2)
    sale = await open_sale(fault_database, apps[0].url, units=300)
    tally = await race([a.url for a in apps], sale, buyers=24, within_s=60)
    found = await settled_audit(fault_database, fault_redis.url, "drill:", sale)
    assert_exact(sale, tally, found)
    assert tally.created == sale.stock
    assert not tally.unavailable_at, "nothing was down, yet some order got a 503"
