"""``fstore --url``: the commands run on the server through the client and print what they
print on the local stores; commands about the local stores refuse to run."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
from client_helpers import fstore
from typer.testing import CliRunner, Result

from fstore.cli import app

if TYPE_CHECKING:
    from client_helpers import Server

runner = CliRunner()


def remote(server: Server, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
    return fstore("--url", server.url, *args, code=code, env=env)


def local(server: Server, *args: str, code: int = 0) -> Result:
    return fstore("--home", str(server.home), *args, code=code)


@pytest.mark.parametrize(
    "args",
    [
        ("features", "list"),
        ("features", "list", "--tag", "finance", "--json"),
        ("features", "show", "segment"),
        ("features", "show", "amount", "--json"),
        ("entities", "list", "--json"),
        ("groups", "show", "spend", "--json"),
        ("values", "get", "amount", "c1"),
        ("values", "get", "segment", "c2", "--json"),
        ("values", "get", "amount", "c1", "--raw", "--json"),
        ("values", "vector", "-f", "amount", "-f", "segment", "c1", "c2", "c9"),
        ("values", "vector", "-f", "amount", "-f", "amount_x2", "c1", "c3", "--raw", "--json"),
        ("values", "history", "amount", "--entity", "c1", "--json"),
        ("values", "history", "segment", "--limit", "2"),
        ("versions", "list", "amount", "--json"),
        ("versions", "show", "amount", "1.0.0", "--json"),
        ("versions", "diff", "segment", "1.0.0", "1.1.0"),
        ("stats", "amount", "--json"),
        ("stats", "segment"),
        ("lineage", "amount_x2", "--transitive", "--json"),
        ("history", "--type", "group", "--json"),
    ],
)
def test_remote_output_equals_local(server: Server, args: tuple[str, ...]) -> None:
    assert remote(server, *args).stdout == local(server, *args).stdout


def test_remote_errors_equal_local(server: Server) -> None:
    for args, code in (
        (("values", "get", "amount", "nobody"), 3),
        (("features", "show", "ghost"), 3),
        (("entities", "create", "customer"), 4),
        (("features", "delete", "amount"), 5),
        (("values", "put", "amount", "c1", "abc"), 2),
    ):
        assert remote(server, *args, code=code).stderr == local(server, *args, code=code).stderr, args


def test_training_set_export(server: Server, tmp_path: Path) -> None:
    entities = tmp_path / "entities.csv"
    with entities.open("w", newline="") as f:
        csv.writer(f).writerows(
            [
                ["customer_id", "event_timestamp", "label"],
                ["c1", "2025-01-02T00:00:00Z", 1],
                ["c2", "2025-01-03T00:00:00Z", 0],
                ["c9", "2025-01-06T00:00:00Z", 1],
            ]
        )
    args = ("training-set", str(entities), "-f", "amount", "-f", "segment", "--json")
    there = remote(server, *args, "-o", str(tmp_path / "remote.parquet")).stdout
    here = local(server, *args, "-o", str(tmp_path / "local.parquet")).stdout
    assert there.replace("remote", "local") == here
    exported = pq.read_table(tmp_path / "remote.parquet")
    assert exported.equals(pq.read_table(tmp_path / "local.parquet"))
    assert exported.num_rows == 3 and exported.column("amount").to_pylist()[2] is None
    raw = ("training-set", str(entities), "-f", "amount", "--raw")
    remote(server, *raw, "-o", str(tmp_path / "remote.csv"))
    local(server, *raw, "-o", str(tmp_path / "local.csv"))
    assert (tmp_path / "remote.csv").read_text() == (tmp_path / "local.csv").read_text()


def test_remote_writes_reach_the_server(server: Server) -> None:
    remote(server, "entities", "create", "cli_shop", "--join-key", "shop_id")
    remote(server, "features", "create", "cli_sales", "-e", "cli_shop", "--transformer", "minmax_scaler")
    remote(server, "values", "put", "cli_sales", "s1", "2", "--at", "2025-01-01T00:00:00Z")
    remote(server, "values", "put", "cli_sales", "s2", "4", "--at", "2025-01-01T00:00:00Z")
    assert "1.1.0" in remote(server, "fit", "cli_sales").stdout
    updated = remote(server, "features", "update", "cli_sales", "--description", "Sales", "--json")
    assert '"previous_version": "1.1.0"' in updated.stdout
    assert '"transformed": 1.0' in local(server, "values", "get", "cli_sales", "s2", "--json").stdout
    assert "unchanged" not in remote(server, "versions", "rollback", "cli_sales", "1.0.0").stdout
    assert "materialized 2 values" in remote(server, "materialize", "--feature", "cli_sales").stdout
    remote(server, "features", "delete", "cli_sales")
    remote(server, "entities", "delete", "cli_shop")
    assert "cli_shop" not in local(server, "entities", "list", "--json").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("demo",),
        ("serve",),
        ("doctor",),
        ("ingest", "history.csv"),
        ("users", "create-admin", "root"),  # refused before it prompts for a password
    ],
)
def test_local_only_commands_refuse_a_url(server: Server, args: tuple[str, ...]) -> None:
    result = remote(server, *args, code=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: '"), result.stderr
    assert "local stores only" in lines[0] and "--url" in lines[0]


def test_help_and_the_environment(server: Server) -> None:
    assert "Usage" in remote(server, "users", "add", "--help").stdout
    assert "Usage" in remote(server, "demo", "--help").stdout
    env = {"FSTORE_URL": server.url}
    assert runner.invoke(app, ["health", "--json"], env=env).exit_code == 0
    assert runner.invoke(app, ["demo"], env=env).exit_code == 2
    health = remote(server, "health").stdout
    assert "metadata" in health and "ok" in health


def test_a_real_process_with_a_dead_server(server: Server) -> None:
    args = ("values", "vector", "-f", "amount", "c1", "--json")
    env = {**os.environ, "FSTORE_URL": server.url}
    proc = subprocess.run(
        [sys.executable, "-m", "fstore.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == local(server, *args).stdout
    dead = {**env, "FSTORE_URL": "http://127.0.0.1:9"}  # the discard port: nothing listens
    proc = subprocess.run(
        [sys.executable, "-m", "fstore.cli", *args], capture_output=True, text=True, env=dead, timeout=60
    )
    assert proc.returncode == 7
    error = json.loads(proc.stderr)["error"]  # with --json, the error is JSON too
    assert error["type"] == "StoreUnavailableError" and error["exit_code"] == 7
    assert error["message"].startswith("cannot reach the FStore server at http://127.0.0.1:9")
