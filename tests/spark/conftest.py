"""Spark fixtures: one local[2] session for the whole test session (it takes 5–15 s to start),
and stores of the two kinds a backfill writes to."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from fstore import FeatureStore, Settings
from fstore.models import Entity
from server_postgres import drop_schema
from server_redis import delete_prefix


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from fstore.spark.session import spark_session

    session = spark_session(
        Settings(
            spark_master="local[2]",
            spark_conf={"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"},
        )
    )
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
async def pg_store(tmp_path: Path, redis_url: str, postgres_url: str) -> AsyncIterator[FeatureStore]:
    """SQLite metadata, Redis online, PostgreSQL offline (a prefix and a schema of its own),
    with a ``customer`` entity."""
    tag = uuid4().hex[:12]
    schema = f"spark_{tag}"
    store = FeatureStore(
        home=tmp_path / "pg",
        online_url=f"{redis_url}?prefix=fstore_{tag}:",
        offline_url=f"{postgres_url}?schema={schema}",
        actor="tester",
        events_publisher="external",
    )
    try:
        async with store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            yield store
    finally:
        delete_prefix(redis_url, f"fstore_{tag}:")
        drop_schema(postgres_url, schema)
