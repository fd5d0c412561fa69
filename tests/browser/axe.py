"""axe-core in the browser tests: inject the vendored engine and list what it finds.

The engine is ``vendor/axe.min.js`` (see ``vendor/README.md`` for its version and how it
was produced); nothing is fetched while the tests run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
#: The impacts a page must not have.
BLOCKING = ("serious", "critical")

_RUN_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""


async def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING) -> list[str]:
    """The page's axe violations of ``impacts``, one line each (empty when it passes)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE_JS))
    found = await page.evaluate(_RUN_JS)
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in impacts
    ]
