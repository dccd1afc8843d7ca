"""`fstore spark backfill | fit | stats` on the embedded store."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from fstore import FeatureStore
from fstore.cli import app
from fstore.models import Entity, Feature


def test_backfill_then_fit_then_stats(spark, tmp_path: Path) -> None:
    home = tmp_path / "home"
    fs = FeatureStore.sync(home=home, actor="tester")
    fs.create_entity(Entity(name="customer", join_key="customer_id"))
    fs.create_feature(Feature(name="amount", entity="customer"), transformer="minmax_scaler")
    fs.close()
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    source = tmp_path / "amounts.parquet"
    pd.DataFrame(
        {
            "id": ["a", "b", "c", "a"],
            "ts": [t0 + timedelta(hours=i) for i in range(4)],
            "amt": [1.0, 5.0, 3.0, 9.0],
        }
    ).to_parquet(source)

    def cli(*args: str) -> dict:
        result = CliRunner().invoke(app, ["--home", str(home), "spark", *args, "--json"])
        assert result.exit_code == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    done = cli(
        "backfill", "amount", "--source", str(source), "--entity-column", "id", "--timestamp-column", "ts",
        "--value-column", "amt",
    )  # fmt: skip
    assert (done["received"], done["stored"], done["online"]) == (4, 4, 3)
    fitted = cli("fit", "amount")
    assert fitted["transformer_state"]["data_min"] == 1.0 and fitted["transformer_state"]["data_max"] == 9.0
    stats = cli("stats", "amount", "--exact-quantiles")
    assert (stats["count"], stats["max"], stats["quantiles"]["p50"]) == (4, 9.0, 4.0)

    rows = tmp_path / "rows.csv"
    rows.write_text("customer_id,event_timestamp\na,2026-03-01T02:00:00Z\nz,2026-03-02T00:00:00Z\n")
    out = tmp_path / "training"
    made = cli("training-set", str(rows), "-f", "amount", "--raw", "--output", str(out))
    assert made["rows"] == 2
    assert pq.read_table(out).column("amount").to_pylist() == [1.0, None]

    result = CliRunner().invoke(
        app, ["--home", str(home), "spark", "backfill", "nope", "--source", str(source)]
    )
    assert result.exit_code == 3 and "nope" in result.stderr
