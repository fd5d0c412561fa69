"""Regenerate the initial migration from the models (before the first release only).

``python -m livemarket.storage.regen`` rewrites ``migrations/versions/0001_initial.py``
by autogenerating against an empty SQLite database. Once a release has shipped,
schema changes get new revisions instead (``alembic revision --autogenerate``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from livemarket.storage.migrate import MIGRATIONS_DIR, alembic_config

INITIAL = MIGRATIONS_DIR / "versions" / "0001_initial.py"


def main() -> None:
    if INITIAL.exists():
        INITIAL.unlink()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'empty.sqlite3'}"
        command.revision(
            alembic_config(url), message="initial schema", autogenerate=True, rev_id="0001"
        )
    generated = next((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    generated.rename(INITIAL)
    print(f"wrote {INITIAL}")


if __name__ == "__main__":
    main()
