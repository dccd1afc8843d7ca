"""End-to-end tests of the ``fstore`` command line."""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from fstore import FeatureStore

if TYPE_CHECKING:
    from conftest import Cli

HEADER = ["customer_id", "event_timestamp", "amount", "amount_x2", "segment"]
# (customer, event time, amount, segment); amount_x2 is amount * 2.
HISTORY = [
    ("c1", "2025-01-01T00:00:00Z", 10.0, "gold"),
    ("c2", "2025-01-02T00:00:00Z", 30.0, "silver"),
    ("c1", "2025-01-03T00:00:00Z", 20.0, "silver"),
    ("c2", "2025-01-04T00:00:00Z", 40.0, "bronze"),
    ("c3", "2025-01-05T00:00:00Z", 50.0, "gold"),
]
ENTITY_ROWS = [
    ("c1", "2025-01-02T00:00:00Z", 1),
    ("c1", "2025-01-03T00:00:00Z", 0),  # exactly at an event: that event counts
    ("c2", "2025-01-01T12:00:00Z", 1),  # before c2's first value: missing
    ("c3", "2025-01-06T00:00:00Z", 0),
    ("c9", "2025-01-06T00:00:00Z", 1),  # unknown entity: missing
]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def write_csv(path: Path, header: list[str], rows: list[tuple[Any, ...]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def history_csv(path: Path, bad: dict[int, tuple[str, str]] | None = None) -> Path:
    """The history as a wide CSV; ``bad`` replaces row i's column with a text."""
    rows = []
    for i, (cid, at, amount, segment) in enumerate(HISTORY):
        row = {"customer_id": cid, "event_timestamp": at, "amount": amount, "amount_x2": amount * 2}
        row["segment"] = segment
        if bad and i in bad:
            column, text = bad[i]
            row[column] = text
        rows.append(tuple(row[c] for c in HEADER))
    return write_csv(path, HEADER, rows)


def point_in_time(customer: str, at: str) -> float | None:
    """The newest amount of ``customer`` at or before ``at`` (what a training row must get)."""
    seen = [(ts(t), a) for c, t, a, _ in HISTORY if c == customer and ts(t) <= ts(at)]
    return max(seen)[1] if seen else None


def register(cli: Cli) -> None:
    cli("entities", "create", "customer", "--join-key", "customer_id", "--description", "A customer")
    cli("groups", "create", "spend", "--entity", "customer", "--description", "Spending")
    cli(
        "features", "create", "amount", "--entity", "customer", "--group", "spend",
        "--transformer", "standard_scaler", "--tag", "finance", "--description", "Amount",
    )  # fmt: skip
    cli(
        "features", "create", "amount_x2", "--entity", "customer", "--depends-on", "amount",
        "--transformer", "minmax_scaler", "--param", "feature_range=[0,1]",
    )  # fmt: skip
    cli(
        "features", "create", "segment", "--entity", "customer", "--type", "categorical",
        "--transformer", "onehot_encoder", "--param", "handle_unknown=ignore",
    )  # fmt: skip


# -- the whole flow -------------------------------------------------------------------------------


def test_full_flow(cli: Cli, tmp_path: Path) -> None:
    register(cli)
    assert cli.json("entities", "show", "customer")["join_key"] == "customer_id"
    shown = cli.json("features", "show", "amount_x2")
    assert shown["dependencies"] == ["amount"]
    assert shown["transformer"] == {"kind": "minmax_scaler", "params": {"feature_range": [0, 1]}}
    assert shown["fitted"] is False and shown["current_version"] == "1.0.0"
    cli("groups", "add", "spend", "amount_x2")
    group = cli.json("groups", "show", "spend")
    assert group["group"]["features"] == ["amount", "amount_x2"]
    assert [f["name"] for f in group["features"]] == ["amount", "amount_x2"]
    assert [f["name"] for f in cli.json("features", "list", "--tag", "finance")] == ["amount"]
    assert {f["name"] for f in cli.json("features", "list", "--search", "AMOUNT")} == {"amount", "amount_x2"}

    # ingest in batches of two rows
    ingested = cli.json("ingest", str(history_csv(tmp_path / "history.csv")), "--batch-size", "2")
    assert ingested["rows"] == 5
    assert ingested["features"] == {"amount": 5, "amount_x2": 5, "segment": 5}

    # fit: a new minor version with the fitted state
    fitted = cli.json("fit", "amount")
    assert fitted["version"] == "1.1.0" and fitted["transformer_state"] is not None
    assert cli.json("fit", "amount_x2")["version"] == "1.1.0"
    assert cli.json("fit", "segment")["version"] == "1.1.0"

    amounts = [a for _, _, a, _ in HISTORY]
    mean, std = statistics.fmean(amounts), statistics.pstdev(amounts)

    def scaled(x: float | None) -> float | None:
        return None if x is None else (x - mean) / std

    got = cli.json("values", "get", "amount", "c1")
    assert got["value"] == 20.0 and got["version"] == "1.1.0"
    assert got["transformed"] == pytest.approx(scaled(20.0))
    assert "transformed" not in cli.json("values", "get", "amount", "c1", "--raw")

    vector = cli.json("values", "vector", "--feature", "amount", "--feature", "amount_x2", "c1", "c2", "c9")
    assert vector["customer_id"] == ["c1", "c2", "c9"]
    assert vector["amount"] == pytest.approx([scaled(20.0), scaled(40.0), None])
    assert vector["amount_x2"] == pytest.approx([(40 - 20) / (100 - 20), (80 - 20) / (100 - 20), None])
    raw = cli.json("values", "vector", "-f", "amount", "-f", "segment", "c1", "c3", "--raw")
    assert raw == {"customer_id": ["c1", "c3"], "amount": [20.0, 50.0], "segment": ["silver", "gold"]}
    onehot = cli.json("values", "vector", "-f", "segment", "c1")["segment"][0]
    assert sorted(onehot) == [0.0, 0.0, 1.0]

    # a value from the command line, then its history
    cli("values", "put", "amount", "c3", "55.5", "--at", "2025-01-07T00:00:00Z")
    assert cli.json("values", "get", "amount", "c3", "--raw")["value"] == 55.5
    rows = cli.json("values", "history", "amount", "--entity", "c3")
    assert [r["value"] for r in rows] == [50.0, 55.5]
    assert ts(rows[1]["event_timestamp"]) == ts("2025-01-07T00:00:00Z")

    # point-in-time training sets, Parquet (transformed) and CSV (raw)
    entities = write_csv(tmp_path / "entities.csv", ["customer_id", "event_timestamp", "label"], ENTITY_ROWS)
    out = tmp_path / "out" / "train.parquet"
    info = cli.json(
        "training-set", str(entities), "--feature", "amount", "--feature", "segment", "-o", str(out)
    )
    assert info["rows"] == len(ENTITY_ROWS)
    assert info["columns"] == ["customer_id", "event_timestamp", "label", "amount", "segment"]
    table = pq.read_table(out).to_pylist()
    assert [r["customer_id"] for r in table] == [c for c, _, _ in ENTITY_ROWS]
    expected = [scaled(point_in_time(c, at)) for c, at, _ in ENTITY_ROWS]
    assert [r["amount"] for r in table] == pytest.approx(expected)
    assert [r["label"] for r in table] == [label for _, _, label in ENTITY_ROWS]
    assert table[0]["segment"] is not None and len(table[0]["segment"]) == 3

    out_csv = tmp_path / "train.csv"
    entities_pq = tmp_path / "entities.parquet"
    pq.write_table(pa_csv.read_csv(entities), entities_pq)  # ids as strings, times as timestamps
    cli("training-set", str(entities_pq), "-f", "amount", "-f", "segment", "-o", str(out_csv), "--raw")
    with out_csv.open() as f:
        read = list(csv.DictReader(f))
    assert [float(r["amount"]) if r["amount"] else None for r in read] == [
        point_in_time(c, at) for c, at, _ in ENTITY_ROWS
    ]
    assert [r["segment"] or None for r in read] == ["gold", "silver", None, "gold", None]

    # versions: list, diff, rollback
    versions = cli.json("versions", "list", "amount")
    assert [v["version"] for v in versions] == ["1.0.0", "1.1.0"]
    assert [v["current"] for v in versions] == [False, True]
    diff = cli.json("versions", "diff", "amount", "1.0.0", "1.1.0")
    assert "transformer" in diff["changes"]
    assert cli.json("versions", "show", "amount", "1.0.0")["transformer_state"] is None
    assert cli.json("versions", "rollback", "amount", "1.0.0")["current_version"] == "1.0.0"
    assert cli.json("features", "show", "amount")["fitted"] is False

    # history, statistics, lineage, materialize, health
    actions = [r["action"] for r in cli.json("history", "--id", "amount")]
    assert actions[0] == "rollback" and "fit" in actions and actions[-1] == "create"
    assert len(cli.json("history", "--type", "feature", "--limit", "2")) == 2
    assert {r["object_type"] for r in cli.json("history", "--type", "group")} == {"group"}
    stats = cli.json("stats", "amount")
    assert stats["count"] == 6 and stats["mean"] == pytest.approx(statistics.fmean([*amounts, 55.5]))
    assert cli.json("stats", "amount", "--end", "2025-01-02T00:00:00Z")["count"] == 2
    assert cli.json("lineage", "amount") == {
        "feature": "amount",
        "transitive": False,
        "dependencies": [],
        "dependents": ["amount_x2"],
    }
    assert cli.json("materialize", "--feature", "amount") == {"amount": 3}
    health = cli.json("health")
    assert set(health) == {"metadata", "online", "offline"} and all(h["ok"] for h in health.values())

    # delete: refused while amount_x2 depends on it, then forced
    refused = cli("features", "delete", "amount", code=5)
    assert "amount_x2" in refused.error_line()
    cli("features", "delete", "amount", "--force")
    assert {f["name"] for f in cli.json("features", "list")} == {"amount_x2", "segment"}
    cli("values", "history", "amount", code=3)

    # human output renders (no --json)
    for args in (
        ("features", "list"),
        ("features", "show", "segment"),
        ("groups", "show", "spend"),
        ("versions", "list", "segment"),
        ("versions", "diff", "segment", "1.0.0", "1.1.0"),
        ("values", "vector", "-f", "segment", "c1", "c2"),
        ("values", "history", "segment", "--limit", "2"),
        ("stats", "segment"),
        ("history", "--limit", "5"),
        ("lineage", "amount_x2"),
        ("health",),
    ):
        assert cli(*args).stdout.strip(), args


def test_update_feature_versions(cli: Cli) -> None:
    register(cli)
    updated = cli.json("features", "update", "amount", "--description", "Amount in BRL")
    assert updated["previous_version"] == "1.0.0" and updated["current_version"] != "1.0.0"
    assert updated["description"] == "Amount in BRL"
    again = cli.json("features", "update", "amount", "--transformer", "none")
    assert again["transformer"] is None
    same = cli.json("features", "update", "amount", "--transformer", "none")
    assert same["current_version"] == again["current_version"]
    params = cli.json("features", "update", "amount_x2", "--param", "feature_range=[-1,1]")
    assert params["transformer"]["params"] == {"feature_range": [-1, 1]}


# -- errors ---------------------------------------------------------------------------------------


def test_user_errors_are_one_line(cli: Cli, tmp_path: Path) -> None:
    register(cli)
    assert (
        "not a valid identifier"
        in cli("features", "create", "bad name", "-e", "customer", code=2).error_line()
    )
    assert "does not exist" in cli("features", "show", "nope", code=3).error_line()
    cli("entities", "create", "customer", code=4).error_line()
    cli("values", "get", "amount", "c1", code=3).error_line()
    assert "'abc' is not a number" in cli("values", "put", "amount", "c1", "abc", code=2).error_line()
    cli("values", "put", "amount", "c1", "1", "--at", "yesterday", code=2).error_line()
    cli("features", "create", "x", "-e", "customer", "--param", "novalue", code=2).error_line()
    cli(
        "features", "create", "x", "-e", "customer", "--type", "categorical", "--dtype", "int", code=2
    ).error_line()
    cli("features", "create", "cat", "-e", "customer", "--transformer", "label_encoder", code=2).error_line()
    cli("ingest", str(tmp_path / "missing.csv"), code=2).error_line()
    cli("ingest", str(write_csv(tmp_path / "x.txt", ["a"], [])), code=2).error_line()
    entities = write_csv(
        tmp_path / "entities.csv", ["customer_id", "event_timestamp"], [("c1", "2025-01-01")]
    )
    cli("training-set", str(entities), "-f", "amount", "-o", str(tmp_path / "out.xlsx"), code=2).error_line()
    cli("training-set", str(entities), "-f", "nope", "-o", str(tmp_path / "out.csv"), code=3).error_line()
    cli("versions", "show", "amount", "9.9.9", code=3).error_line()
    cli("groups", "delete", "spend", code=5).error_line()
    # Typer's own usage errors: exit 2
    assert cli("features", "create", "x", code=2).code == 2
    assert cli("features", "create", "x", "-e", "customer", "--type", "weird", code=2).code == 2


def test_bad_row_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    register(cli)
    bad = history_csv(tmp_path / "bad.csv", bad={3: ("amount", "abc")})
    line = cli("ingest", str(bad), "--batch-size", "1", code=2).error_line()
    assert "row 3" in line and "line 5" in line and "'abc'" in line and "amount" in line
    bad_time = history_csv(tmp_path / "bad_time.csv", bad={4: ("event_timestamp", "not-a-time")})
    assert "row 4" in cli("ingest", str(bad_time), "--batch-size", "2", code=2).error_line()
    bad_int = history_csv(tmp_path / "bad_id.csv", bad={2: ("customer_id", "")})
    assert "row 2" in cli("ingest", str(bad_int), "--batch-size", "1", code=2).error_line()
    for feature in ("amount", "amount_x2", "segment"):
        assert cli.json("values", "history", feature) == []
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("customer_id,event_timestamp,amount\nc1,2025-01-01T00:00:00Z,1.0\nc2,oops\n")
    cli("ingest", str(ragged), code=2).error_line()
    unknown = write_csv(
        tmp_path / "unknown.csv", ["customer_id", "event_timestamp", "zzz"], [("c1", "2025", 1)]
    )
    assert "zzz" in cli("ingest", str(unknown), code=2).error_line()
    assert cli.json("values", "history", "amount") == []
    # the same rows, good, as Parquet: all stored
    good = pa_csv.read_csv(history_csv(tmp_path / "good.csv"))
    pq.write_table(good.set_column(0, "customer_id", good.column(0).cast(pa.string())), tmp_path / "good.pq")
    assert cli.json("ingest", str(tmp_path / "good.pq"), "-f", "amount")["features"] == {"amount": 5}
    assert len(cli.json("values", "history", "amount")) == 5
    assert cli.json("values", "history", "segment") == []


def test_subprocess_errors_and_help(cli: Cli) -> None:
    started = time.perf_counter()
    helped = cli.sub("--help")
    elapsed = time.perf_counter() - started
    for command in ("entities", "features", "groups", "versions", "values", "ingest", "training-set"):
        assert command in helped.stdout
    assert elapsed < 5  # typically ~0.2 s; generous for loaded CI machines
    assert cli.sub("--version").stdout.startswith("fstore ")
    cli.sub("init")  # a read command on a home without a store is an error (test_cli_ops.py)
    missing = cli.sub("features", "show", "nope", code=3)
    assert missing.error_line() == "error: feature 'nope' does not exist"
    cli.sub("entities", "create", "bad-name", code=2).error_line()
    assert "Usage" in cli.sub("features", "create", "x", code=2).stderr


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys, fstore.cli\n"
        "heavy = {'pandas', 'pyarrow', 'duckdb', 'numpy', 'pydantic', 'fstore.store', 'fstore.models',"
        " 'httpx', 'fstore.client'}\n"
        "print(sorted(m for m in sys.modules if m in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- two processes, one home ----------------------------------------------------------------------


def test_concurrent_processes_share_a_home(cli: Cli) -> None:
    with FeatureStore.sync(home=cli.home, actor="tester") as fs:
        fs.create_entity({"name": "customer", "join_key": "customer_id"})
        fs.create_feature({"name": "amount", "entity": "customer"})
        fs.store_feature_value("amount", "c1", 1.5, "2025-01-01T00:00:00Z")
        # the store stays open while another process reads and writes the same home
        assert cli.sub("values", "get", "amount", "c1", "--json").json()["value"] == 1.5
        cli.sub("values", "put", "amount", "c2", "2.5", "--at", "2025-01-02T00:00:00Z")
        cli.sub("features", "create", "score", "--entity", "customer", "--dtype", "int")
        assert fs.get_feature_value("amount", "c2").value == 2.5
        assert fs.get_feature("score").dtype == "int"
        fs.store_feature_value("score", "c1", 7, "2025-01-03T00:00:00Z")
        vector = cli.sub("values", "vector", "-f", "amount", "-f", "score", "c1", "c2", "--json").json()
        assert vector == {
            "customer_id": ["c1", "c2"],
            "amount": [1.5, 2.5],
            "score": [7, None],
            "$status": {"score": ["present", "missing"]},
        }
        assert [r["value"] for r in fs.get_feature_history("amount").to_pylist()] == [1.5, 2.5]


# -- the demo -------------------------------------------------------------------------------------


def test_demo(cli: Cli, tmp_path: Path) -> None:
    args = ("demo", "--customers", "20", "--events", "4", "--days", "10", "--output", str(tmp_path / "d"))
    report = cli.json(*args)
    assert report["customers"] == 20
    assert report["values_ingested"] > 0
    rows, columns = report["training_set"]["shape"]
    assert rows > 0 and columns > 3
    assert Path(report["training_set"]["path"]).exists()
    assert json.dumps(report)  # plain JSON (no NaN)
    assert not any(isinstance(v, float) and math.isnan(v) for v in report["timings_s"].values())
    cli(*args, code=4).error_line()  # already loaded
    assert "customers" in cli(*args, "--reset").stdout
