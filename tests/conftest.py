from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fstore import FeatureStore
from fstore.models import Entity
from server_mongo import mongo_server  # noqa: F401  (session fixture)
from server_postgres import postgres_url  # noqa: F401  (session fixture)
from server_redis import redis_cluster, redis_url  # noqa: F401  (session fixtures)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FeatureStore]:
    """An embedded store in a fresh directory, with a ``customer`` entity."""
    async with FeatureStore(home=tmp_path / "fstore", actor="tester") as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        yield fs
