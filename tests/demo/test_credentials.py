"""The demo credentials file: private, atomic, and loud when damaged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livemarket.demo.credentials import (
    CredentialsFileError,
    new_password,
    read_credentials,
    write_credentials,
)


def test_written_file_is_private_and_reads_back(tmp_path: Path) -> None:
    """Passwords written are read back unchanged, from a 0600 file, with no temp file left over."""
    path = tmp_path / "data" / "demo-credentials.json"
    write_credentials(path, {"demo-host": "pässwörd-1", "demo-operator": "secret-22"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_credentials(path) == {"demo-host": "pässwörd-1", "demo-operator": "secret-22"}
    assert os.listdir(path.parent) == [path.name]


def test_a_file_readable_by_others_is_narrowed_to_0600(tmp_path: Path) -> None:
    """An existing file left world-readable (e.g. copied by hand) is made private when read."""
    path = tmp_path / "demo-credentials.json"
    path.write_text('{"users": {"demo-host": "abcdefgh"}}', encoding="utf-8")
    path.chmod(0o644)
    assert read_credentials(path) == {"demo-host": "abcdefgh"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_file_means_no_saved_passwords(tmp_path: Path) -> None:
    """Before the first seed there is nothing to read, which is not an error."""
    assert read_credentials(tmp_path / "demo-credentials.json") == {}


@pytest.mark.parametrize("body", ["[]", '{"users": []}', '{"users": {"a": 1}}', "{", '"x"'])
def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path, body: str) -> None:
    """A file that is not a username → password map raises an error naming the file."""
    path = tmp_path / "demo-credentials.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CredentialsFileError, match="demo-credentials.json"):
        read_credentials(path)


def test_new_passwords_are_long_and_different() -> None:
    """Generated passwords are at least 16 characters and never repeat."""
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50 and min(map(len, passwords)) >= 16
