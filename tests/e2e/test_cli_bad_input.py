"""``fstore ingest`` of files that are not what they claim: one ``error:`` line, a non-zero
exit, nothing stored (real subprocesses)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Cli

HEADER = b"customer_id,event_timestamp,amount\n"
ROW = b"c1,2025-01-01T00:00:00Z,1.5\n"

FILES: dict[str, tuple[bytes, str]] = {
    "random.csv": (os.urandom(4096), "not UTF-8 text"),
    "random.parquet": (os.urandom(4096), "cannot read the file"),
    "latin1.csv": (HEADER + "café,2025-01-01T00:00:00Z,1.5\n".encode("latin-1"), "not UTF-8 text"),
    "duplicated.csv": (
        b"customer_id,event_timestamp,amount,amount\nc1,2025-01-01T00:00:00Z,1,2\n",
        "'amount' appears more than once",
    ),
    "header_only.csv": (HEADER, "only a header"),
    "empty.csv": (b"", "the file is empty"),
    "nul_id.csv": (HEADER + b"c\x001,2025-01-01T00:00:00Z,1.5\n", "NUL"),
    "ragged.csv": (HEADER + ROW + b"c2,2025-01-01\n", "cannot read the file"),
}


@pytest.fixture
def home(cli: Cli) -> Cli:
    cli("entities", "create", "customer", "--join-key", "customer_id")
    cli("features", "create", "amount", "--entity", "customer")
    return cli


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_bad_file_is_one_error_line(home: Cli, tmp_path: Path, name: str) -> None:
    content, expected = FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    line = home.sub("ingest", str(path), code=None).error_line()
    assert expected in line, line
    assert home.sub("ingest", str(path), code=None).code == 2  # a user error, not a crash
    assert home.json("stats", "amount")["count"] == 0


def test_random_bytes_in_a_gzip_name(home: Cli, tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(os.urandom(2048))
    home.sub("ingest", str(path), code=None).error_line()
    good = tmp_path / "good.csv.gz"
    good.write_bytes(gzip.compress(HEADER + ROW))
    assert "ingested 1 values" in home.sub("ingest", str(good)).stdout
