from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fstore import FeatureStore
from fstore.models import Entity


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FeatureStore]:
    """An embedded store in a fresh directory, with a ``customer`` entity."""
    async with FeatureStore(home=tmp_path / "fstore", actor="tester") as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        yield fs
