"""``fstore ingest`` of a large file, killed part-way (SIGKILL) and run again, ends with the
file stored exactly once; the second run says how many values were already there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from conftest import Cli
from fstore import FeatureStore

ROWS = 200_000
BATCH = 10_000


def big_csv(path: Path) -> Path:
    i = np.arange(ROWS)
    table = pa.table(
        {
            "customer_id": pa.array([f"c{k}" for k in i % 5_000]),
            "event_timestamp": pa.array(1_700_000_000_000_000 + i * 1_000_000, pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "amount": pa.array(i * 0.5),
            "visits": pa.array(i % 97),
        }
    )
    pacsv.write_csv(table, path)
    return path


def published(segments: Path, pending: Path) -> bool:
    """A segment is in place and no write is pending (segments renamed into place are
    published when their write's marker is deleted: listed first, so the order is safe)."""
    if not segments.is_dir() or not any(p.suffix == ".parquet" for p in segments.iterdir()):
        return False
    return not pending.is_dir() or not any(p.suffix == ".txn" for p in pending.iterdir())


def stored_rows(home: Path) -> dict[str, int]:
    fs = FeatureStore.sync(home=home)
    try:
        return {
            name: fs.get_feature_history(name, include_superseded=True).num_rows
            for name in ("amount", "visits")
        }
    finally:
        fs.close()


def test_a_killed_ingest_run_again_stores_the_file_once(cli: Cli, tmp_path: Path) -> None:
    cli("entities", "create", "customer", "--join-key", "customer_id")
    cli("features", "create", "amount", "--entity", "customer")
    cli("features", "create", "visits", "--entity", "customer", "--dtype", "int")
    data = big_csv(tmp_path / "big.csv")
    env = {**os.environ, "FSTORE_HOME": str(cli.home)}
    args = [sys.executable, "-m", "fstore.cli", "ingest", str(data), "--batch-size", str(BATCH), "--json"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    segments = cli.home / "offline" / "visits"
    deadline = time.monotonic() + 120
    try:
        # kill it once some chunks are stored (never before: that would prove nothing)
        while not published(segments, cli.home / "offline" / ".txn"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    first = stored_rows(cli.home)
    assert first["amount"] == first["visits"], first  # each chunk is one atomic write
    assert first["amount"] % BATCH == 0 and 0 < first["amount"] < ROWS, first

    again = cli.sub("ingest", str(data), "--batch-size", str(BATCH), "--json", timeout=300).json()
    assert again["unchanged"] == 2 * first["amount"]
    assert again["stored"] == 2 * (ROWS - first["amount"])
    assert again["by_feature"]["amount"] == {
        "stored": ROWS - first["amount"],
        "unchanged": first["amount"],
        "duplicates": 0,
    }
    assert stored_rows(cli.home) == {"amount": ROWS, "visits": ROWS}

    human = cli("ingest", str(data), "--batch-size", str(BATCH * 5)).stdout
    assert f"ingested 0 values, {2 * ROWS:,} already stored" in human
    assert stored_rows(cli.home) == {"amount": ROWS, "visits": ROWS}
