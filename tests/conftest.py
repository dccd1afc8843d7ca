from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest

from fstore import FeatureStore
from fstore.models import Entity
from server_kafka import kafka_bootstrap  # noqa: F401  (session fixture)
from server_mongo import database_url, drop_database, mongo_server  # noqa: F401  (session fixture)
from server_postgres import (  # noqa: F401  (session fixtures; the cleanup one is autouse)
    _postgres_throwaway_cleanup,
    drop_schema,
    postgres_url,
)
from server_redis import delete_prefix, redis_cluster, redis_url  # noqa: F401  (session fixtures)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FeatureStore]:
    """An embedded store in a fresh directory, with a ``customer`` entity."""
    async with FeatureStore(home=tmp_path / "fstore", actor="tester") as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        yield fs


@pytest.fixture
async def production(
    tmp_path: Path,
    mongo_server: str,  # noqa: F811
    redis_url: str,  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> AsyncIterator[FeatureStore]:
    """The specification's stack: MongoDB metadata, Redis online, PostgreSQL offline (a
    database, key prefix and schema of its own, dropped afterwards)."""
    tag = uuid4().hex[:12]
    metadata_url = database_url(mongo_server, f"fstore_{tag}")
    online_url = f"{redis_url}?prefix=fstore_{tag}:"
    schema = f"test_{tag}"
    offline_url = f"{postgres_url}?schema={schema}"
    store = FeatureStore(
        home=tmp_path / "prod",
        metadata_url=metadata_url,
        online_url=online_url,
        offline_url=offline_url,
        actor="tester",
    )
    try:
        async with store:
            yield store
    finally:
        drop_database(metadata_url)
        delete_prefix(redis_url, f"fstore_{tag}:")
        drop_schema(postgres_url, schema)


@pytest.fixture
async def production_store(production: FeatureStore) -> FeatureStore:
    """``production`` with a ``customer`` entity, like ``store``."""
    await production.create_entity(Entity(name="customer", join_key="customer_id"))
    return production
