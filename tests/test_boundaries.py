"""The package boundaries (issue #14): domains never reach into the web layer.

Read from the source with ``ast`` (no import side effects): every ``import`` and
``from ... import`` of every module, including those inside functions. The entry
point ``livemarket/__main__.py`` is not a package and starts the web server.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "livemarket"
#: Every package under livemarket/ but the web layer itself.
DOMAINS = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "web")


def imported(source: str, package: str) -> set[str]:
    """The modules a module of ``package`` imports, as absolute names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = path.relative_to(ROOT.parent).with_suffix("")
        for name in sorted(imported(path.read_text(), ".".join(module.parts[:-1]))):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{module} imports {name}")
    return found


def test_the_domains_include_realtime() -> None:
    assert {"realtime", "chat", "bus", "scheduler"} <= set(DOMAINS)
    assert "web" not in DOMAINS


@pytest.mark.parametrize("package", DOMAINS)
def test_no_domain_package_imports_the_web_layer(package: str) -> None:
    assert offenders(package, ("livemarket.web",)) == []


def test_the_realtime_domain_is_framework_free() -> None:
    """Only the gateway (livemarket/web/realtime) may speak aiohttp."""
    assert offenders("realtime", ("aiohttp", "livemarket.web")) == []


@pytest.mark.parametrize(
    "line",
    [
        "from livemarket.web.api import path_int",
        "import livemarket.web.app",
        "from livemarket import web",
        "from ..web import api",
        "def late():\n    from ..web.realtime import gateway",
    ],
)
def test_every_spelling_of_an_import_of_the_web_layer_is_seen(line: str) -> None:
    names = imported(line, "livemarket.realtime")
    assert any(n == "livemarket.web" or n.startswith("livemarket.web.") for n in names)
