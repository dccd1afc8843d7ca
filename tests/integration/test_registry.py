"""Registry behaviour through the FeatureStore service on the embedded stores."""

import pytest

from fstore import FeatureStore
from fstore.errors import (
    AlreadyExistsError,
    DependencyCycleError,
    DependencyError,
    NotFoundError,
    ValidationError,
    VersionError,
)
from fstore.models import Feature, FeatureGroup, TransformerSpec
from fstore.transformers import StandardScaler


def amount(**kw: object) -> Feature:
    return Feature(name=kw.pop("name", "amount"), entity="customer", **kw)  # type: ignore[arg-type]


async def test_create_get_list_and_duplicates(store: FeatureStore) -> None:
    created = await store.create_feature(
        amount(tags=["finance"]), transformer=TransformerSpec(kind="standard_scaler")
    )
    assert created.current_version == "1.0.0"
    assert (await store.get_feature("amount")).tags == ["finance"]
    await store.create_feature(Feature(name="color", entity="customer", type="categorical"))
    assert [f.name for f in await store.list_features(tag="finance")] == ["amount"]
    assert [f.name for f in await store.list_features(type="categorical")] == ["color"]
    assert [f.name for f in await store.list_features(name_contains="MOU")] == ["amount"]
    with pytest.raises(AlreadyExistsError):
        await store.create_feature(amount())
    with pytest.raises(NotFoundError):
        await store.get_feature("nope")
    with pytest.raises(NotFoundError, match="entity"):
        await store.create_feature(Feature(name="x", entity="ghost"))
    with pytest.raises(ValidationError, match="does not apply"):
        await store.create_feature(amount(name="y"), transformer="label_encoder")


async def test_version_bumps_diff_and_rollback(store: FeatureStore) -> None:
    await store.create_feature(amount(), transformer="standard_scaler")
    assert (await store.update_feature("amount", {"description": "money"})).current_version == "1.0.1"
    fv = await store.update_feature(
        "amount", transformer=StandardScaler().fit([1.0, 2.0, 3.0]), new_version=True
    )
    assert fv.version == "1.1.0" and fv.transformer_state is not None
    assert (await store.update_feature("amount", transformer="minmax_scaler")).current_version == "2.0.0"
    assert (await store.update_feature("amount", {"dtype": "int"})).current_version == "3.0.0"
    unchanged = await store.update_feature("amount", {"description": "money"})
    assert unchanged.current_version == "3.0.0"
    explicit = await store.update_feature("amount", {"owner": "ana"}, version="5.0.0")
    assert explicit.current_version == "5.0.0"
    with pytest.raises(VersionError):
        await store.update_feature("amount", {"owner": "bob"}, version="4.0.0")
    versions = [v.version for v in await store.list_versions("amount")]
    assert versions == ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "3.0.0", "5.0.0"]
    diff = await store.diff_versions("amount", "1.0.0", "3.0.0")
    assert diff["changes"]["dtype"] == {"from": "float", "to": "int"}
    assert diff["changes"]["transformer"]["to"]["kind"] == "minmax_scaler"
    rolled = await store.rollback("amount", "1.1.0")
    assert rolled.current_version == "1.1.0" and rolled.dtype == "float"
    current = await store.get_version("amount")
    assert current.version == "1.1.0" and current.transformer_state == fv.transformer_state
    # the next change continues after the highest version, not after the rolled-back one
    assert (await store.update_feature("amount", {"owner": "eve"})).current_version == "5.0.1"


async def test_dependencies_cycles_and_delete(store: FeatureStore) -> None:
    await store.create_feature(amount())
    await store.create_feature(amount(name="avg", dependencies=["amount"]))
    await store.create_feature(amount(name="ratio", dependencies=["avg"]))
    assert await store.dependents("amount") == ["avg"]
    assert await store.dependents("amount", transitive=True) == ["avg", "ratio"]
    assert await store.dependencies("ratio", transitive=True) == ["amount", "avg"]
    with pytest.raises(DependencyCycleError, match="amount -> ratio -> avg -> amount"):
        await store.update_feature("amount", {"dependencies": ["ratio"]})
    with pytest.raises(NotFoundError):
        await store.create_feature(amount(name="z", dependencies=["ghost"]))
    with pytest.raises(DependencyError):
        await store.delete_feature("amount")
    await store.delete_feature("amount", force=True)
    with pytest.raises(NotFoundError):
        await store.get_feature("amount")
    with pytest.raises(DependencyError):
        await store.delete_entity("customer")


async def test_groups(store: FeatureStore) -> None:
    await store.create_group(FeatureGroup(name="tx", entity="customer"))
    await store.create_feature(amount(group="tx"))
    await store.create_feature(amount(name="count"))
    group = await store.add_to_group("tx", "count")
    assert group.features == ["amount", "count"]
    assert (await store.get_feature("count")).group == "tx"
    assert [f.name for f in await store.get_group_features("tx")] == ["amount", "count"]
    with pytest.raises(DependencyError):
        await store.delete_group("tx")
    group = await store.remove_from_group("tx", "count")
    assert group.features == ["amount"]
    assert (await store.get_feature("count")).group is None
    await store.delete_feature("amount")
    assert (await store.get_group("tx")).features == []
    await store.delete_group("tx")
    with pytest.raises(NotFoundError):
        await store.create_feature(amount(name="w", group="tx"))


async def test_history_records_who_what_when(store: FeatureStore) -> None:
    await store.create_feature(amount())
    await store.update_feature("amount", {"description": "d"})
    await store.delete_feature("amount")
    records = await store.history("feature", "amount")
    assert [r.action for r in records] == ["delete", "update", "create"]
    assert all(r.actor == "tester" for r in records)
    assert records[1].before["description"] == "" and records[1].after["description"] == "d"
    assert records[0].at >= records[1].at >= records[2].at
    assert {r.object_type for r in await store.history()} == {"entity", "feature"}


async def test_failed_write_leaves_nothing(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError):
        await store.create_feature(amount(group="missing_group"))
    with pytest.raises(NotFoundError):
        await store.get_feature("amount")
    assert await store.history("feature", "amount") == []


async def test_specification_calls(store: FeatureStore) -> None:
    """The specification's examples: facade transformers and ``registry.register_feature``."""
    from fstore import NumericTransformer

    transformer = NumericTransformer(config={"method": "standard"})
    await transformer.fit([1.0, 2.0, 3.0])
    assert list(await transformer.transform([2.0])) == [0.0]
    feature = await store.create_feature(amount(), transformer=transformer)
    assert (await store.get_version("amount")).transformer_state["mean"] == 2.0
    # registering through the registry directly also reaches the serving caches
    await store.store_feature_value("amount", "c1", 3.0)
    changed = feature.model_copy(update={"description": "new"})
    version = await store.registry.register_feature(changed, NumericTransformer(config={"method": "minmax"}))
    assert version.version == "2.0.0" and version.transformer.kind == "minmax_scaler"
    value = await store.get_feature_value("amount", "c1")
    assert value is not None and value.version == "2.0.0" and value.transformed is None  # not fitted yet
    first = await store.registry.register_feature(amount(name="fresh"))
    assert first.version == "1.0.0"


async def test_online_metadata_cache(store: FeatureStore) -> None:
    await store.create_feature(amount(), transformer="standard_scaler")
    await store.store_feature_value("amount", "c1", 3.0)
    await store.store_feature_value("amount", "c2", 5.0)
    fv = await store.fit_transformer("amount")
    cached = await store.online.get_feature_meta("amount")
    assert cached is not None and cached["current_version"] == fv.version
    state = await store.online.get_transformer("amount", fv.version)
    assert state is not None and state["kind"] == "standard_scaler" and state["state"]["mean"] == 4.0
