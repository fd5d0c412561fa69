"""The sample Grafana dashboard in docs/ graphs only figures that /metrics really serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.web.test_checkout_api import Shop, as_user, shop, start

__all__ = ["shop"]

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
_METRIC = re.compile(r"\blivemarket_[a-z_]+")


async def test_every_dashboard_query_names_a_served_metric(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """Each ``livemarket_*`` name in a panel's query is served (with a deal running and one
    refusal, so those figures exist); a renamed metric breaks this test, not the graphs."""
    await start(client, await as_user(client, "host"), shop)
    assert (await client.get("/api/v1/products/99999")).status == 404  # one refusal
    text = await (await client.get("/metrics")).text()
    served = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    served |= {family.name for family in text_string_to_metric_families(text)}
    queries = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    named = {name for query in queries for name in _METRIC.findall(query)}
    # Relay figures exist only while a stream is live; this test has none.
    # A counter nobody has bumped yet is served as its family (HELP and TYPE) alone.
    missing = {
        n
        for n in named
        if n not in served
        and n.removesuffix("_total") not in served
        and not n.startswith("livemarket_stream_")
    }
    assert named and not missing, missing
