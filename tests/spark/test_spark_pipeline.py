"""SQL feature pipelines: results equal a pandas computation of the same query, a re-run
stores nothing, reading another feature records the dependency, bad definitions store nothing."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pandas as pd
import pytest
from typer.testing import CliRunner

from fstore import FeatureStore
from fstore.cli import app
from fstore.errors import DependencyCycleError, PipelineError
from fstore.models import Entity, Feature
from fstore.spark.pipeline import register_pipeline, run_pipeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUERY = """
SELECT o.customer_id, date_trunc('DAY', o.ts) AS event_timestamp,
       sum(o.amount * t.factor) AS daily_spend, count(*) AS daily_orders
FROM orders AS o JOIN tiers AS t ON o.customer_id = t.customer_id
GROUP BY o.customer_id, date_trunc('DAY', o.ts)
"""


@pytest.fixture(params=["embedded", "postgres"])
def target(request: pytest.FixtureRequest) -> FeatureStore:
    if request.param == "embedded":
        return request.getfixturevalue("store")
    return request.getfixturevalue("pg_store")


def _orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i % 5}" for i in range(60)],
            "ts": [T0 + timedelta(hours=7 * i) for i in range(60)],
            "amount": [round(1.5 * i + 0.25, 2) for i in range(60)],
        }
    )


def _files(tmp_path: Path) -> dict:
    orders = tmp_path / "orders.parquet"
    _orders().to_parquet(orders)
    tiers = tmp_path / "tiers.csv"
    tiers.write_text("customer_id,factor\nc0,1.0\nc1,0.5\nc2,2.0\nc3,1.25\n")  # c4 has no tier
    return {"orders": {"path": str(orders)}, "tiers": {"path": str(tiers)}}


def _expected(start: datetime, end: datetime) -> pd.DataFrame:
    """The query's semantics in pandas: inner join, per customer and UTC day, sum and count."""
    tiers = pd.DataFrame({"customer_id": ["c0", "c1", "c2", "c3"], "factor": [1.0, 0.5, 2.0, 1.25]})
    joined = _orders().merge(tiers, on="customer_id")
    joined["event_timestamp"] = joined["ts"].dt.floor("D")
    joined["spend"] = joined["amount"] * joined["factor"]
    out = (
        joined.groupby(["customer_id", "event_timestamp"])
        .agg(daily_spend=("spend", "sum"), daily_orders=("spend", "size"))
        .reset_index()
    )
    return out[(out["event_timestamp"] >= start) & (out["event_timestamp"] < end)]


def _history(fs_table) -> list[tuple]:
    frame = fs_table.to_pandas()
    return sorted(zip(frame["entity_id"], frame["event_timestamp"], frame["value"], strict=True))


async def test_results_equal_pandas_and_a_rerun_stores_nothing(
    spark, target: FeatureStore, tmp_path: Path
) -> None:
    await target.create_feature(Feature(name="daily_spend", entity="customer"))
    await target.create_feature(Feature(name="daily_orders", entity="customer", dtype="int"))
    definition = {
        "name": "spend",
        "query": QUERY,
        "sources": _files(tmp_path),
        "entity_column": "customer_id",
    }
    versions = await register_pipeline(target, spark, definition)
    assert [(v.feature_id, v.version) for v in versions] == [
        ("daily_spend", "2.0.0"),
        ("daily_orders", "2.0.0"),
    ]
    assert versions[0].definition["pipeline"]["query"] == QUERY.strip()

    start, end = T0 + timedelta(days=2), T0 + timedelta(days=12)
    expected = _expected(start, end)
    result = await run_pipeline(target, spark, "spend", start=start, end=end)
    assert result.rows == len(expected) > 10
    for name in ("daily_spend", "daily_orders"):
        assert result.features[name].stored == len(expected)
        want = sorted(
            zip(expected["customer_id"], expected["event_timestamp"], expected[name].tolist(), strict=True)
        )
        got = _history(await target.get_feature_history(name))
        assert [g[:2] for g in got] == [w[:2] for w in want]
        assert [g[2] for g in got] == pytest.approx([w[2] for w in want], rel=1e-12)
    newest = expected.sort_values("event_timestamp").groupby("customer_id").last()
    vector = await target.get_feature_vector(
        ["daily_spend", "daily_orders"], list(newest.index), read_through=False
    )
    assert vector.to_dict()["daily_orders"] == newest["daily_orders"].tolist()

    audit = await target.get_feature_history("daily_spend", include_superseded=True)
    again = await run_pipeline(target, spark, "spend", start=start, end=end)
    assert all(r.stored == 0 and r.unchanged == len(expected) for r in again.features.values())
    assert (await target.get_feature_history("daily_spend", include_superseded=True)).equals(audit)
    # the same definition again: no new version
    same = await register_pipeline(target, spark, definition)
    assert [v.version for v in same] == ["2.0.0", "2.0.0"]


async def test_reading_another_features_history_records_the_dependency(
    spark, target: FeatureStore, tmp_path: Path
) -> None:
    await target.create_feature(Feature(name="amount", entity="customer"))
    await target.create_feature(Feature(name="amount_doubled", entity="customer"))
    await target.ingest(
        pd.DataFrame(
            {
                "customer_id": ["a", "b", "a"],
                "event_timestamp": [T0, T0, T0 + timedelta(hours=1)],
                "amount": [1.0, 2.5, 4.0],
            }
        )
    )
    definition = {
        "name": "doubled",
        "query": "SELECT customer_id, event_timestamp, amount * :factor AS amount_doubled FROM history",
        "sources": {"history": {"feature": "amount"}},
        "entity_column": "customer_id",
    }
    with pytest.raises(PipelineError) as refused:  # a parameter marker that is not :start / :end
        await register_pipeline(target, spark, definition)
    assert refused.value.details["problem"] == "query"
    definition["query"] = definition["query"].replace(":factor", "2")
    (fv,) = await register_pipeline(target, spark, definition)
    assert fv.version == "2.0.0" and fv.dependencies == ["amount"]
    assert await target.dependents("amount") == ["amount_doubled"]
    result = await run_pipeline(target, spark, "doubled")
    assert result.features["amount_doubled"].stored == 3
    assert (await target.get_feature_value("amount_doubled", "a")).value == 8.0

    definition["query"] = definition["query"].replace("* 2", "* 3")
    (changed,) = await register_pipeline(target, spark, definition)
    assert changed.version == "3.0.0" and changed.bump == "major"

    with pytest.raises(DependencyCycleError):  # amount computed from amount_doubled: a cycle
        await register_pipeline(
            target,
            spark,
            {
                "name": "back",
                "query": "SELECT customer_id, event_timestamp, amount_doubled AS amount FROM d",
                "sources": {"d": {"feature": "amount_doubled"}},
                "entity_column": "customer_id",
            },
        )
    assert (await target.get_feature("amount")).pipeline is None


@pytest.mark.parametrize(
    ("change", "problem", "named"),
    [
        ({"query": "SELECT * FROM nope"}, "unknown_source", "nope"),
        ({"sources": {"orders": {"path": "/no/such/file.parquet"}}}, "unknown_source", "orders"),
        ({"sources": {"orders": {"feature": "ghost"}}}, "unknown_source", "ghost"),
        ({"entity_column": "cid"}, "missing_column", "cid"),
        ({"query": "SELECT customer_id, amount FROM orders"}, "missing_column", "event_timestamp"),
        (
            {"query": "SELECT customer_id, ts AS event_timestamp, amount AS spent FROM orders"},
            "not_a_feature",
            "spent",
        ),
        (
            {"query": "SELECT customer_id, ts AS event_timestamp, customer_id AS total FROM orders"},
            "type_mismatch",
            "total",
        ),
        ({"query": "SELEC 1"}, "query", "SELEC"),
    ],
)
async def test_a_bad_definition_is_refused_and_stores_nothing(
    spark, store: FeatureStore, tmp_path: Path, change: dict, problem: str, named: str
) -> None:
    await store.create_feature(Feature(name="total", entity="customer"))
    orders = tmp_path / "orders.parquet"
    _orders().to_parquet(orders)
    definition = {
        "name": "p",
        "query": "SELECT customer_id, ts AS event_timestamp, amount AS total FROM orders",
        "sources": {"orders": {"path": str(orders)}},
        "entity_column": "customer_id",
        **change,
    }
    with pytest.raises(PipelineError, match=named) as refused:
        await register_pipeline(store, spark, definition)
    assert refused.value.details["problem"] == problem
    assert [v.version for v in await store.list_versions("total")] == ["1.0.0"]
    assert (await store.get_feature("total")).pipeline is None
    assert "orders" not in {t.name for t in spark.catalog.listTables()}  # the views were dropped


async def test_two_rows_for_one_identity_store_nothing(spark, store: FeatureStore, tmp_path: Path) -> None:
    await store.create_feature(Feature(name="total", entity="customer"))
    orders = tmp_path / "orders.parquet"
    _orders().to_parquet(orders)
    await register_pipeline(
        store,
        spark,
        {
            "name": "p",
            "query": "SELECT customer_id, date_trunc('YEAR', ts) AS event_timestamp, amount AS total "
            "FROM orders",
            "sources": {"orders": {"path": str(orders)}},
            "entity_column": "customer_id",
        },
    )
    with pytest.raises(PipelineError, match="one row per entity and event time"):
        await run_pipeline(store, spark, "p")
    assert (await store.get_feature_history("total")).num_rows == 0


def test_register_from_yaml_and_run_from_the_cli(spark, tmp_path: Path) -> None:
    home = tmp_path / "home"
    fs = FeatureStore.sync(home=home, actor="tester")
    fs.create_entity(Entity(name="customer", join_key="customer_id"))
    fs.create_feature(Feature(name="daily_spend", entity="customer"))
    fs.create_feature(Feature(name="daily_orders", entity="customer", dtype="int"))
    fs.close()
    _files(tmp_path)
    (tmp_path / "spend.yaml").write_text(
        "name: spend\nentity_column: customer_id\nsources:\n"
        "  orders: {path: orders.parquet}\n  tiers: {path: tiers.csv}\n"
        "features: [daily_spend]\n"
        f"query: |\n{''.join('  ' + line + chr(10) for line in QUERY.strip().splitlines())}"
    )

    def cli(*args: str, code: int = 0) -> dict:
        result = CliRunner().invoke(app, ["--home", str(home), "spark", *args, "--json"])
        assert result.exit_code == code, result.stdout + result.stderr
        return json.loads(result.stdout) if code == 0 else {}

    (registered,) = cli("pipeline", "register", str(tmp_path / "spend.yaml"))
    assert registered["feature_id"] == "daily_spend" and registered["version"] == "2.0.0"
    assert cli("pipeline", "list") == {"spend": ["daily_spend"]}
    shown = cli("pipeline", "show", "spend")
    assert shown["sources"]["orders"]["path"] == str((tmp_path / "orders.parquet").resolve())
    done = cli("run", "spend", "--start", "2026-01-03T00:00:00Z", "--end", "2026-01-13T00:00:00Z")
    expected = _expected(T0 + timedelta(days=2), T0 + timedelta(days=12))
    assert done["features"]["daily_spend"]["stored"] == len(expected)
    again = cli("run", "spend", "--start", "2026-01-03T00:00:00Z", "--end", "2026-01-13T00:00:00Z")
    assert again["features"]["daily_spend"]["stored"] == 0

    by_sql = cli(
        "pipeline", "register", "--name", "orders_count", "--entity-column", "customer_id",
        "--source", f"o={tmp_path / 'orders.parquet'}",
        "--sql", "SELECT customer_id, date_trunc('DAY', ts) AS event_timestamp, count(*) AS daily_orders "
        "FROM o WHERE ts >= :start AND ts < :end GROUP BY 1, 2",
    )  # fmt: skip
    assert by_sql[0]["feature_id"] == "daily_orders"
    days = _orders().assign(day=lambda f: f["ts"].dt.floor("D")).groupby(["customer_id", "day"]).size()
    counted = cli("run", "orders_count")  # no range: :start and :end are the far past and future
    assert counted["features"]["daily_orders"]["stored"] == len(days)
    cli("pipeline", "register", "--name", "x", "--entity-column", "customer_id", "--source", "o=/nowhere.csv",
        "--sql", "SELECT * FROM o", code=2)  # fmt: skip
    cli("run", "nope", code=3)


async def test_a_jdbc_table_source(spark, pg_store: FeatureStore, postgres_url: str, monkeypatch) -> None:
    import psycopg

    await pg_store.create_feature(Feature(name="visits", entity="customer", dtype="int"))
    table = f"spark_pipe_{uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (cid text, at timestamptz, n int)")
        conn.execute(
            f"INSERT INTO {table} SELECT 'c' || (g % 3), "
            "timestamptz '2026-01-01' + (g % 4) * interval '1 day', g FROM generate_series(1, 24) AS g"
        )
    query = "SELECT cid, date_trunc('DAY', at) AS event_timestamp, sum(n) AS visits FROM v GROUP BY 1, 2"
    try:
        missing = {
            "name": "jv",
            "query": query,
            "sources": {"v": {"table": "no_such_table"}},
            "entity_column": "cid",
        }
        with pytest.raises(PipelineError, match="'v'") as refused:
            await register_pipeline(pg_store, spark, missing)
        assert refused.value.details["problem"] == "unknown_source"
        monkeypatch.setenv("FSTORE_TEST_PG", postgres_url)  # ${VAR}: read when the pipeline runs
        defined = {**missing, "sources": {"v": {"table": table, "url": "${FSTORE_TEST_PG}"}}}
        (fv,) = await register_pipeline(pg_store, spark, defined)
        assert fv.definition["pipeline"]["sources"]["v"]["url"] == "${FSTORE_TEST_PG}"
        result = await run_pipeline(pg_store, spark, "jv", end=datetime(2026, 1, 3, tzinfo=UTC))
        assert (result.rows, result.features["visits"].stored) == (6, 6)  # 3 customers x 2 days
        expected = sum(g for g in range(1, 25) if g % 3 == 0 and g % 4 == 1)
        assert (await pg_store.get_feature_history("visits")).num_rows == 6
        value = await pg_store.get_feature_value("visits", "c0")
        assert value.value == expected and value.event_timestamp == datetime(2026, 1, 2, tzinfo=UTC)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
