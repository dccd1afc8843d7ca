"""A full disk and a read-only store, for real: FSTORE_HOME on a small tmpfs filled to the
brim, and the same files behind a read-only bind mount. Writes get a typed error (SDK
``StorageFullError`` / ``ReadOnlyStoreError``, HTTP 507 / 503, CLI exit 11 / 12) and store
nothing; reads keep working. Needs root (mount); under CI a failed mount is a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from fstore import FeatureStore, Settings
from fstore.errors import ReadOnlyStoreError, StorageFullError
from fstore.models import Entity, Feature
from server_api import api_server


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"mount {' '.join(args)} failed: {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "small"
    root.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root))
    try:
        yield root
    finally:
        umount(root)


def fill(root: Path) -> Path:
    """Fill the file system; returns the filler (delete it to free the space)."""
    filler = root / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == 28
    try:
        while True:  # the last few bytes too
            os.write(fd, b"\0")
    except OSError:
        pass
    os.close(fd)
    return filler


def wide(n: int, day: int) -> pd.DataFrame:
    ts = pd.Timestamp(f"2025-01-{day:02d}", tz="UTC")
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "event_timestamp": ts, "amount": 1.0})


async def setup(home: Path) -> FeatureStore:
    fs = await FeatureStore(home=home).open()
    await fs.create_entity(Entity(name="customer", join_key="customer_id"))
    await fs.create_feature(Feature(name="amount", entity="customer"))
    await fs.ingest(wide(3, 1))
    return fs


async def test_a_full_disk_is_a_typed_error_and_stores_nothing(tmpfs: Path) -> None:
    fs = await setup(tmpfs / "home")
    try:
        filler = fill(tmpfs)
        with pytest.raises(StorageFullError, match="full"):
            await fs.ingest(wide(50_000, 2))
        with pytest.raises(StorageFullError):
            await fs.create_feature(Feature(name="other", entity="customer"))
        assert (await fs.get_feature_history("amount")).num_rows == 3  # nothing of the call
        assert (await fs.get_feature_vector(["amount"], ["c0"])).values == {"amount": [1.0]}
        filler.unlink()
        assert await fs.ingest(wide(10, 2)) == {"amount": 10}  # space freed: writes work again
    finally:
        await fs.close()


def test_a_full_disk_over_http_is_507_and_in_the_cli_exit_11(tmpfs: Path) -> None:
    import asyncio

    home = tmpfs / "home"
    asyncio.run(_setup_and_close(home))
    csv = Path(os.environ.get("TMPDIR", "/tmp")) / f"fstore-full-{os.getpid()}.csv"
    wide(20_000, 3).to_csv(csv, index=False)
    settings = Settings(home=home, dev_mode=True, auth_disabled=True)
    with api_server(settings) as url:
        fill(tmpfs)
        rows = [{"entity_id": f"c{i}", "value": 2.0} for i in range(20_000)]
        answer = httpx.post(f"{url}/api/v1/features/amount/values/batch", json={"values": rows}, timeout=60)
        assert answer.status_code == 507, answer.text
        assert answer.json()["type"] == "urn:fstore:error:StorageFullError"
        assert httpx.get(f"{url}/api/v1/features/amount/values/c0").status_code == 200
    cli = subprocess.run(
        [sys.executable, "-m", "fstore.cli", "ingest", str(csv)],
        env={**os.environ, "FSTORE_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    csv.unlink()
    assert cli.returncode == 11, cli.stderr
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "full" in lines[0], cli.stderr


async def _setup_and_close(home: Path) -> None:
    await (await setup(home)).close()


def test_a_read_only_store_serves_reads_and_refuses_writes(tmpfs: Path, tmp_path: Path) -> None:
    import asyncio

    home = tmpfs / "home"
    asyncio.run(_setup_and_close(home))
    view = tmp_path / "read-only"
    view.mkdir()
    mount("--bind", str(home), str(view))
    try:
        mount("-o", "remount,ro,bind", str(view))
        asyncio.run(_reads_work_writes_refused(view))
        csv = tmp_path / "more.csv"
        wide(5, 4).to_csv(csv, index=False)
        cli = subprocess.run(
            [sys.executable, "-m", "fstore.cli", "ingest", str(csv)],
            env={**os.environ, "FSTORE_HOME": str(view)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert cli.returncode == 12, cli.stderr
        assert cli.stderr.startswith("error: ") and "read-only" in cli.stderr, cli.stderr
    finally:
        umount(view)


async def _reads_work_writes_refused(home: Path) -> None:
    async with FeatureStore(home=home) as fs:
        assert [f.name for f in await fs.list_features()] == ["amount"]
        assert (await fs.get_feature_vector(["amount"], ["c0", "c2"])).values == {"amount": [1.0, 1.0]}
        assert (await fs.get_feature_history("amount")).num_rows == 3
        rows = pd.DataFrame(
            {"customer_id": ["c1"], "event_timestamp": [pd.Timestamp("2025-02-01", tz="UTC")]}
        )
        assert (await fs.get_historical_features(rows, ["amount"]))["amount"].tolist() == [1.0]
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            await fs.ingest(wide(5, 4))
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            await fs.create_feature(Feature(name="other", entity="customer"))
        assert (await fs.get_feature_history("amount")).num_rows == 3
