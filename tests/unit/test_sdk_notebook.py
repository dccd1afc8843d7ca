"""The SDK in a notebook: the blocking twin shows every method with its real signature and
docstring, every public method has a docstring, lists refuse a lone string, and reprs are short."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
from pathlib import Path

import pandas as pd
import pytest

import fstore
from fstore import FeatureStore, SyncFeatureStore, _sync_stub
from fstore.client.http import operation
from fstore.errors import ValidationError
from fstore.models import Entity, Feature, FeatureGroup, FeatureVersion, TransformerSpec
from fstore.sync import twin_methods

TS = pd.Timestamp("2025-01-01", tz="UTC")


def public_methods(cls: type) -> dict[str, object]:
    """The public functions, properties and HTTP client operations of a class."""
    return {
        name: member.steps if isinstance(member, operation) else member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_")
        and (
            inspect.isfunction(member)
            or inspect.ismethod(member)
            or isinstance(member, (property, operation))
        )
    }


def test_the_twin_has_every_coroutine_method_with_its_signature_and_docstring() -> None:
    coroutines = {n for n, f in inspect.getmembers(FeatureStore, inspect.iscoroutinefunction) if n[0] != "_"}
    assert coroutines == set(twin_methods()) | {"open", "close"}
    assert coroutines <= set(dir(SyncFeatureStore))
    for name in twin_methods():
        twin, method = getattr(SyncFeatureStore, name), getattr(FeatureStore, name)
        assert not inspect.iscoroutinefunction(twin), name
        assert twin.__doc__ == method.__doc__, name
        assert list(inspect.signature(twin).parameters) == list(inspect.signature(method).parameters)
        assert twin.__qualname__ == f"SyncFeatureStore.{name}"
    shown = str(inspect.signature(SyncFeatureStore.get_feature_vector))
    assert "features: collections.abc.Sequence[str]" in shown and "-> fstore.serving.FeatureVector" in shown
    text = pydoc.render_doc(SyncFeatureStore, renderer=pydoc.plaintext)
    assert "get_historical_features(self, entity_rows: Any" in text
    assert "A point-in-time-correct training set" in text


def test_the_stub_declares_what_the_twin_has() -> None:
    assert _sync_stub.main(["--check"]) == 0, "run: python -m fstore._sync_stub"
    stub = _sync_stub.STUB.read_text()
    for name in twin_methods():
        assert f"    def {name}(self" in stub


PUBLIC_CLASSES = [getattr(fstore, n) for n in fstore.__all__ if inspect.isclass(getattr(fstore, n))]


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_every_public_method_has_a_docstring(cls: type) -> None:
    own = {n for k in cls.__mro__ if k.__module__.startswith("fstore") for n in vars(k)}
    missing = [n for n, m in public_methods(cls).items() if n in own and not inspect.getdoc(m)]
    assert missing == [], f"{cls.__name__}: no docstring on {missing}"


def test_the_twin_works_inside_a_running_loop(tmp_path: Path) -> None:
    async def notebook_cell() -> list[str]:
        with FeatureStore.sync(home=tmp_path) as fs:  # Jupyter runs cells inside a loop
            fs.create_entity(Entity(name="customer"))
            return [e.name for e in fs.list_entities()]

    assert asyncio.run(notebook_cell()) == ["customer"]


@pytest.fixture
async def fs(store: FeatureStore) -> FeatureStore:
    await store.create_feature(Feature(name="f", entity="customer"))
    await store.store_feature_value("f", "c1", 1.5, TS)
    return store


@pytest.mark.parametrize(
    ("features", "entities", "what"),
    [(["f"], "c1", "entity ids"), ("f", ["c1"], "feature names"), (["f"], 7, "entity ids")],
)
async def test_a_lone_value_where_a_list_belongs_is_refused(
    fs: FeatureStore, features: object, entities: object, what: str
) -> None:
    with pytest.raises(ValidationError, match=f"{what} are a list: write \\[") as caught:
        await fs.get_feature_vector(features, entities)  # type: ignore[arg-type]
    assert "write [" in caught.value.message
    assert (await fs.get_feature_vector(["f"], ["c1"])).values == {"f": [1.5]}


async def test_other_lists_refuse_a_string_too(fs: FeatureStore) -> None:
    rows = pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [TS]})
    with pytest.raises(ValidationError, match="feature names are a list"):
        await fs.get_historical_features(rows, "f")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="feature names are a list"):
        await fs.materialize(features="f")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="feature names are a list"):
        await fs.ingest(rows.assign(f=[2.0]), features="f")  # type: ignore[arg-type]
    assert await fs.materialize(features=["f"]) == {"f": 1}


async def test_a_feature_vector_shows_a_small_table(fs: FeatureStore) -> None:
    await fs.create_feature(Feature(name="label", entity="customer", type="categorical"))
    await fs.store_feature_value("label", "c1", "gold", TS)
    ids = ["c1", *(f"c{k}" for k in range(2, 14))]
    vector = await fs.get_feature_vector(["f", "label"], ids)
    lines = repr(vector).splitlines()
    assert lines[0] == "FeatureVector: 13 entities × 2 features"
    assert lines[1].split() == ["customer_id", "f", "label"]
    assert lines[2].split() == ["c1", "1.5", "gold"]
    assert lines[3].split() == ["c2", "<missing>", "<missing>"]
    assert lines[-1] == "… 3 more rows" and len(lines) == 2 + 10 + 1


def test_model_reprs_are_one_short_line() -> None:
    feature = Feature(
        name="amount", entity="customer", description="x" * 500, tags=["a"], current_version="1.0.0"
    )
    assert repr(feature) == (
        "Feature(name='amount', entity='customer', type='numerical', dtype='float', current_version='1.0.0')"
    )
    entity = repr(Entity(name="customer"))
    assert entity == "Entity(name='customer', join_key='customer_id', value_type='string')"
    group = FeatureGroup(name="g", entity="customer", features=[f"f{k}" for k in range(8)])
    assert repr(group) == (
        "FeatureGroup(name='g', entity='customer', features=['f0', 'f1', 'f2', 'f3', 'f4', '… 3 more'])"
    )
    version = FeatureVersion(
        feature_id="amount",
        version="1.1.0",
        transformer=TransformerSpec(kind="standard_scaler"),
        transformer_state={"mean": 1.0, "std": 2.0},
    )
    assert repr(version) == (
        "FeatureVersion(feature_id='amount', version='1.1.0', "
        "transformer=TransformerSpec(kind='standard_scaler'))"
    )
