"""Vendored browser libraries are exactly what their manifest says, with their licence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "livemarket/web/static/vendor"


def test_every_vendored_file_matches_its_manifest_and_carries_its_licence() -> None:
    """Each file has an entry (package, exact version, SHA-256) and its licence beside it;
    nothing sits in the folder unaccounted for."""
    manifest = json.loads((VENDOR / "vendor.json").read_text())
    accounted = {"vendor.json"}
    for name, entry in manifest.items():
        data = (VENDOR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["version"].count(".") == 2, "versions are exact"
        assert (VENDOR / entry["license_file"]).read_text().strip(), name
        assert entry["version"].encode() in data[:400], "the file names its version"
        accounted |= {name, entry["license_file"]}
    assert {p.name for p in VENDOR.iterdir()} == accounted
