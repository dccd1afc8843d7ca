"""The demo end to end with the specification's stack: MongoDB metadata, Redis online,
PostgreSQL offline — and the same answers as the embedded default."""

from pathlib import Path

import numpy as np
import pandas as pd

from fstore import FeatureStore
from fstore.demo import DemoConfig, generate, run_demo

CONFIG = DemoConfig(customers=200, events_per_customer=10, days=30, seed=5)


async def test_demo_on_the_production_stack_matches_embedded(
    production: FeatureStore, tmp_path: Path
) -> None:
    health = await production.health()
    assert {name: info["backend"] for name, info in health.items()} == {
        "metadata": "mongodb",
        "online": "redis",
        "offline": "postgres",
    }
    report = await run_demo(production, CONFIG, tmp_path / "out-prod")
    async with FeatureStore(home=tmp_path / "embedded") as embedded:
        reference = await run_demo(embedded, CONFIG, tmp_path / "out-embedded")

    assert report.values_ingested == reference.values_ingested
    assert report.versions == reference.versions
    assert report.vector.keys() == reference.vector.keys()
    for name, values in reference.vector.items():
        got = report.vector[name]
        if values and isinstance(values[0], float):
            np.testing.assert_allclose(got, values, rtol=1e-9)
        else:
            assert got == values, name
    prod = pd.read_parquet(report.training_set_path)
    emb = pd.read_parquet(reference.training_set_path)
    assert prod.shape == emb.shape == (len(generate(CONFIG).entity_rows), emb.shape[1])
    pd.testing.assert_frame_equal(prod, emb, check_exact=False, rtol=1e-9)
