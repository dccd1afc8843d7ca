"""Spark backfill: the same history and online values as the in-process write of the same rows,
a re-run that changes nothing, and a bad row that stores nothing."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pandas as pd
import pyarrow as pa
import pytest

from fstore import FeatureStore
from fstore.errors import InvalidValueError
from fstore.models import Entity, Feature
from fstore.spark.backfill import backfill

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["embedded", "postgres"])
def target(request: pytest.FixtureRequest) -> FeatureStore:
    if request.param == "embedded":
        return request.getfixturevalue("store")
    return request.getfixturevalue("pg_store")


async def _define(fs: FeatureStore) -> None:
    await fs.create_feature(Feature(name="amount", entity="customer"), transformer="standard_scaler")
    await fs.create_feature(
        Feature(name="segment", entity="customer", type="categorical", dtype="string"),
        transformer="onehot_encoder",
    )
    seed = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "event_timestamp": [T0, T0, T0],
            "amount": [10.0, 20.0, 40.0],
            "segment": ["a", "b", "a"],
        }
    )
    await fs.ingest(seed)
    await fs.fit_transformer("amount")
    await fs.fit_transformer("segment")


def _rows(n: int = 40) -> pd.DataFrame:
    """Rows over a few entities: a duplicated identity (the last row wins), a correction of a
    seeded value (c1 at T0), a repeat of a seeded value (c2 at T0), an unseen category."""
    rows = [
        {
            "customer_id": f"c{i % 7}",
            "event_timestamp": T0 + timedelta(hours=i),
            "amount": float(i) * 1.5,
            "segment": "abz"[i % 3],
        }
        for i in range(1, n)
    ]
    rows.append({**rows[3], "amount": 999.0})  # same identity again: this row wins
    rows.append({"customer_id": "c1", "event_timestamp": T0, "amount": 11.0, "segment": "a"})
    rows.append({"customer_id": "c2", "event_timestamp": T0, "amount": 20.0, "segment": "b"})
    return pd.DataFrame(rows)


def _history(table: pa.Table) -> list[tuple]:
    return sorted(
        zip(
            *(table.column(c).to_pylist() for c in ("entity_id", "event_timestamp", "value", "transformed")),
            strict=True,
        )
    )


async def test_backfill_equals_the_in_process_write_and_a_rerun_changes_nothing(
    spark, target: FeatureStore, tmp_path: Path
) -> None:
    twin = FeatureStore(home=tmp_path / "twin", actor="tester")
    async with twin:
        await twin.create_entity(Entity(name="customer", join_key="customer_id"))
        for fs in (target, twin):
            await _define(fs)
        rows = _rows()
        source = tmp_path / "rows.parquet"
        rows.to_parquet(source)
        for name in ("amount", "segment"):
            twin_result = await twin.store_feature_values(name, rows.rename(columns={name: "value"}))
            result = await backfill(target, spark, name, str(source), value_column=name)
            assert (result.received, result.stored, result.unchanged, result.duplicates) == (
                int(twin_result),
                twin_result.stored,
                twin_result.unchanged,
                twin_result.duplicates,
            )
            assert result.online == 7 and result.online_ok
            mine = await target.get_feature_history(name)
            assert _history(mine) == _history(await twin.get_feature_history(name))
            audit = await target.get_feature_history(name, include_superseded=True)

            again = await backfill(target, spark, name, str(source), value_column=name)
            assert again.stored == 0 and again.unchanged == result.stored + result.unchanged
            assert (await target.get_feature_history(name, include_superseded=True)).equals(audit)
            # the dashboard's activity: what was stored (the seed's values too), not the rerun
            activity = [sum(n for _, n in await fs.ingestion_activity(name)) for fs in (target, twin)]
            assert activity[0] == activity[1] >= twin_result.stored > 0

        ids = [f"c{i}" for i in range(7)]
        vector = await target.get_feature_vector(["amount", "segment"], ids, read_through=False)
        expected = await twin.get_feature_vector(["amount", "segment"], ids, read_through=False)
        assert vector.to_dict() == expected.to_dict()


async def test_a_bad_row_names_the_row_and_stores_nothing(
    spark, target: FeatureStore, tmp_path: Path
) -> None:
    await _define(target)
    before = await target.get_feature_history("amount", include_superseded=True)
    source = tmp_path / "rows.csv"
    source.write_text(
        "customer_id,event_timestamp,amount\n"
        "c1,2026-02-01T00:00:00Z,1.5\n"
        "c9,2026-02-02T00:00:00Z,lots\n"
        "c2,2026-02-03T00:00:00Z,2.5\n"
    )
    with pytest.raises(InvalidValueError, match=r"entity 'c9'.*'lots'"):
        await backfill(target, spark, "amount", str(source), value_column="amount")
    after = await target.get_feature_history("amount", include_superseded=True)
    assert after.equals(before)
    assert (await target.get_feature_value("amount", "c9")) is None


async def test_a_csv_source_with_a_ttl_sends_only_fresh_values_online(
    spark, target: FeatureStore, tmp_path: Path
) -> None:
    await target.create_feature(Feature(name="visits", entity="customer", dtype="int", ttl_seconds=3600))
    now = datetime.now(UTC).replace(microsecond=0)
    source = tmp_path / "visits.csv"
    source.write_text(
        "customer_id,ts,n\n"
        f"old,{(now - timedelta(hours=5)).isoformat()},3\n"
        f"new,{(now - timedelta(minutes=5)).isoformat()},4\n"
        f"new,{(now - timedelta(minutes=50)).isoformat()},2\n"
    )
    result = await backfill(target, spark, "visits", str(source), timestamp_column="ts", value_column="n")
    assert (result.stored, result.online) == (3, 1)
    vector = await target.get_feature_vector(["visits"], ["old", "new"], read_through=False)
    assert vector.to_dict()["visits"] == [None, 4]


async def test_a_jdbc_source(spark, pg_store: FeatureStore, postgres_url: str) -> None:
    import psycopg

    await pg_store.create_feature(Feature(name="visits", entity="customer", dtype="int"))
    table = f"spark_source_{uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (cid int, at timestamptz, n int)")
        conn.execute(
            f"INSERT INTO {table} SELECT g % 5, timestamptz '2026-01-01' + g * interval '1 day', g "
            "FROM generate_series(1, 20) AS g"
        )
    try:
        result = await backfill(
            pg_store, spark, "visits", postgres_url, table=f"SELECT * FROM {table}",
            entity_column="cid", timestamp_column="at", value_column="n", stage_with="copy",
        )  # fmt: skip
        assert (result.received, result.stored, result.online) == (20, 20, 5)
        assert (await pg_store.get_feature_value("visits", 4)).value == 19
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
