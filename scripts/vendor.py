"""Vendor browser libraries from the npm registry, reproducibly: ``python scripts/vendor.py``.

``vendor.json`` beside each vendored file names its npm package, exact version, the file
inside the package and its SHA-256. This script fetches each package with ``npm pack``
(once, at development time; nothing is fetched at run time or test time), copies the
file and its licence, and refuses a file whose digest differs from the manifest unless
``--update`` is given (after a deliberate version bump).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = [ROOT / "livemarket/web/static/vendor/vendor.json"]


def _unpack(package: str, version: str, into: Path) -> Path:
    subprocess.run(
        ["npm", "pack", "--silent", f"{package}@{version}"],
        cwd=into,
        check=True,
        stdout=subprocess.PIPE,
    )
    tarball = next(into.glob("*.tgz"))
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    tarball.unlink()
    return into


def vendor(manifest: Path, update: bool) -> bool:
    entries = json.loads(manifest.read_text())
    ok = True
    for name, entry in entries.items():
        with tempfile.TemporaryDirectory() as folder:
            unpacked = _unpack(entry["package"], entry["version"], Path(folder))
            data = (unpacked / entry["path"]).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"] and not update:
                print(f"{name}: {digest} differs from the manifest", file=sys.stderr)
                ok = False
                continue
            entry["sha256"] = digest
            (manifest.parent / name).write_bytes(data)
            for licence in ("LICENSE.md", "LICENSE", "LICENSE.txt"):
                if (unpacked / "package" / licence).exists():
                    target = manifest.parent / entry["license_file"]
                    target.write_bytes((unpacked / "package" / licence).read_bytes())
                    break
            print(f"{name}: {entry['package']}@{entry['version']} {digest[:12]}")
    manifest.write_text(json.dumps(entries, indent=2) + "\n")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="accept new digests")
    args = parser.parse_args()
    sys.exit(0 if all([vendor(m, args.update) for m in MANIFESTS]) else 1)


if __name__ == "__main__":
    main()
