"""Force-deleting a feature that others depend on leaves no dangling reference, and a new
feature of the same name is not linked to the old dependents — on the embedded (SQLite)
and the MongoDB metadata backends."""

from __future__ import annotations

import pytest

from fstore import FeatureStore
from fstore.errors import DependencyError
from fstore.models import ChangeAction, Feature


@pytest.fixture(params=["store", "production_store"])
def any_store(request: pytest.FixtureRequest) -> FeatureStore:
    store: FeatureStore = request.getfixturevalue(request.param)
    return store


def feature(name: str, *deps: str) -> Feature:
    return Feature(name=name, entity="customer", dependencies=list(deps))


async def test_force_delete_unlinks_dependents_and_records_it(any_store: FeatureStore) -> None:
    fs = any_store
    await fs.create_feature(feature("amount"))
    await fs.create_feature(feature("count"))
    await fs.create_feature(feature("avg", "amount", "count"))
    await fs.create_feature(feature("ratio", "avg"))
    with pytest.raises(DependencyError):
        await fs.delete_feature("amount")
    await fs.delete_feature("amount", force=True)

    avg = await fs.get_feature("avg")
    assert avg.dependencies == ["count"] and avg.current_version == "1.1.0"
    version = await fs.get_version("avg")
    assert version.dependencies == ["count"] and "'amount' was deleted" in version.reason
    assert await fs.dependencies("ratio", transitive=True) == ["avg", "count"]
    record = (await fs.history("feature", "avg"))[0]
    assert record.action is ChangeAction.UPDATE and record.version == "1.1.0"
    assert record.before is not None and record.before["dependencies"] == ["amount", "count"]
    for f in await fs.list_features():  # nothing names a feature that is gone
        assert set(f.dependencies) <= {g.name for g in await fs.list_features()}

    # a new feature of the old name starts with no dependents
    await fs.create_feature(feature("amount"))
    assert await fs.dependents("amount") == []
    assert (await fs.get_feature("avg")).dependencies == ["count"]
    # rolling back to the version that named the old feature does not link the new one
    with pytest.raises(DependencyError, match="deleted since"):
        await fs.rollback("avg", "1.0.0")
    assert (await fs.get_feature("avg")).current_version == "1.1.0"
    await fs.delete_feature("amount")  # no dependents: no force needed
