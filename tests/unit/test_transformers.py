"""The transformer contract: JSON state, save/load, the factory and the async facades."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fstore.errors import NotFittedError, TransformerError, UnknownCategoryError
from fstore.models import FeatureType, TransformerKind, TransformerSpec
from fstore.transformers import (
    TRANSFORMERS,
    CategoricalTransformer,
    LabelEncoder,
    MinMaxScaler,
    NumericTransformer,
    OneHotEncoder,
    StandardScaler,
    Transformer,
    create_transformer,
    transformer_from_state,
)

FLOATS = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
NUMBERS = np.array([0.1, 0.2, 0.3, 10.0 / 3.0, -7.77, 1e-7, 123456.789, np.pi])
WORDS = ["b", "a", "c", "a", "d", None]

FITTED: list[Any] = [
    pytest.param(lambda: StandardScaler().fit(NUMBERS), NUMBERS, id="standard"),
    pytest.param(lambda: StandardScaler(with_mean=False).fit(NUMBERS), NUMBERS, id="standard-no-mean"),
    pytest.param(lambda: StandardScaler(with_std=False).fit(NUMBERS), NUMBERS, id="standard-no-std"),
    pytest.param(
        lambda: StandardScaler(with_mean=False, with_std=False).fit(NUMBERS), NUMBERS, id="standard-identity"
    ),
    pytest.param(lambda: MinMaxScaler(feature_range=(-1, 3), clip=True).fit(NUMBERS), NUMBERS, id="minmax"),
    pytest.param(lambda: LabelEncoder(handle_unknown="unknown").fit(WORDS), [*WORDS, "zz"], id="label"),
    pytest.param(lambda: OneHotEncoder(handle_unknown="ignore").fit(WORDS), [*WORDS, "zz"], id="onehot"),
]


SCALER_STATE = {"mean": 0.0, "var": 1.0, "scale": 1.0, "n_samples_seen": 2}


def json_round_trip(transformer: Transformer) -> Transformer:
    return Transformer.from_state(json.loads(json.dumps(transformer.get_state())))


def assert_same_outputs(a: Transformer, b: Transformer, values: list[Any] | np.ndarray) -> None:
    np.testing.assert_array_equal(a.transform(values), b.transform(values))
    assert [a.transform_one(v) for v in values] == [b.transform_one(v) for v in values]


# -- state ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "values"), FITTED)
def test_json_round_trip_gives_exactly_the_same_outputs(make: Callable[[], Transformer], values: Any) -> None:
    original = make()
    state = original.get_state()
    assert set(state) == {"kind", "params", "state"}
    assert state["kind"] == original.kind.value and state["params"] == original.params
    assert json.loads(json.dumps(state, allow_nan=False)) == state  # plain, strict JSON
    rebuilt = json_round_trip(original)
    assert type(rebuilt) is type(original) and rebuilt.fitted
    assert rebuilt == original
    assert rebuilt.get_state() == state
    assert_same_outputs(original, rebuilt, values)
    out = original.transform(values)
    np.testing.assert_array_equal(original.inverse_transform(out), rebuilt.inverse_transform(out))


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(FLOATS, min_size=1, max_size=50),
    kind=st.sampled_from([TransformerKind.STANDARD_SCALER, TransformerKind.MINMAX_SCALER]),
)
def test_json_round_trip_property(x: list[float], kind: TransformerKind) -> None:
    original = create_transformer({"kind": kind}).fit(x)
    rebuilt = json_round_trip(original)
    assert rebuilt.transform(x).tolist() == original.transform(x).tolist()
    assert [rebuilt.transform_one(v) for v in x] == [original.transform_one(v) for v in x]


@pytest.mark.parametrize(("make", "values"), FITTED)
def test_save_and_load(make: Callable[[], Transformer], values: Any, tmp_path: Path) -> None:
    original = make()
    path = tmp_path / "t.json"
    original.save(path)
    assert json.loads(path.read_text()) == original.get_state()
    for loader in (Transformer.load, type(original).load):
        loaded = loader(str(path))
        assert loaded == original
        assert_same_outputs(original, loaded, values)


def test_unfitted_state_round_trips_unfitted(tmp_path: Path) -> None:
    scaler = MinMaxScaler(feature_range=(2, 4))
    assert scaler.get_state() == {"kind": "minmax_scaler", "params": scaler.params, "state": None}
    scaler.save(tmp_path / "s.json")
    loaded = Transformer.load(tmp_path / "s.json")
    assert not loaded.fitted and loaded.params == {"feature_range": [2.0, 4.0], "clip": False}
    with pytest.raises(NotFittedError):
        loaded.transform([1.0])
    assert loaded == scaler
    assert loaded != scaler.fit([1.0, 2.0])


def test_equality_is_by_state() -> None:
    assert StandardScaler().fit([1.0, 2.0]) == StandardScaler().fit([1.0, 2.0])
    assert StandardScaler().fit([1.0, 2.0]) != StandardScaler().fit([1.0, 3.0])
    assert StandardScaler() != StandardScaler(with_mean=False)
    assert LabelEncoder().fit(["a"]) != OneHotEncoder().fit(["a"])
    assert StandardScaler() != "standard_scaler"
    assert "not fitted" in repr(StandardScaler()) and "with_mean=True" in repr(StandardScaler())


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"kind": "robust_scaler"}, "unknown transformer kind"),
        ({"params": {}}, "unknown transformer kind"),
        ("standard_scaler", "mapping"),
        ({"kind": "standard_scaler", "params": [1]}, "params"),
        ({"kind": "standard_scaler", "params": {"with_mean": 2}}, "with_mean"),
        ({"kind": "standard_scaler", "state": [1.0]}, "state"),
        ({"kind": "standard_scaler", "state": {"mean": 1.0}}, "invalid standard_scaler state"),
        ({"kind": "standard_scaler", "state": {**SCALER_STATE, "mean": "1"}}, "mean"),
        ({"kind": "standard_scaler", "state": {**SCALER_STATE, "mean": float("nan")}}, "mean"),
        ({"kind": "standard_scaler", "state": {**SCALER_STATE, "scale": 0.0}}, "scale"),
        ({"kind": "standard_scaler", "state": {**SCALER_STATE, "n_samples_seen": 0}}, "n_samples_seen"),
        ({"kind": "standard_scaler", "state": {**SCALER_STATE, "n_samples_seen": 2.0}}, "n_samples_seen"),
        (
            {
                "kind": "minmax_scaler",
                "state": {"data_min": 2.0, "data_max": 1.0, "scale": 1.0, "min": 0.0, "n_samples_seen": 2},
            },
            "data_min",
        ),
        ({"kind": "label_encoder", "state": {"categories": ["b", "a"]}}, "sorted"),
        ({"kind": "label_encoder", "state": {"categories": ["a", "a"]}}, "sorted"),
        ({"kind": "label_encoder", "state": {"categories": []}}, "sorted"),
        ({"kind": "onehot_encoder", "state": {"categories": ["a", 1]}}, "sorted"),
        ({"kind": "onehot_encoder", "state": {"categories": "ab"}}, "sorted"),
    ],
)
def test_bad_states_are_rejected(state: Any, message: str) -> None:
    with pytest.raises(TransformerError, match=message):
        transformer_from_state(state)


def test_from_state_on_a_subclass_checks_the_kind() -> None:
    state = MinMaxScaler().fit([1.0, 2.0]).get_state()
    with pytest.raises(TransformerError, match="cannot build a StandardScaler"):
        StandardScaler.from_state(state)
    assert isinstance(MinMaxScaler.from_state(state), MinMaxScaler)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(TransformerError, match="cannot read"):
        Transformer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TransformerError, match="not a transformer JSON file"):
        Transformer.load(bad)
    with pytest.raises(TransformerError, match="cannot write"):
        StandardScaler().save(tmp_path / "no-such-dir" / "t.json")


# -- the registry and the factory ----------------------------------------------------------


def test_registry_covers_every_kind() -> None:
    assert set(TRANSFORMERS) == set(TransformerKind)
    for kind, cls in TRANSFORMERS.items():
        assert cls.kind is kind
    numeric = {TransformerKind.STANDARD_SCALER, TransformerKind.MINMAX_SCALER}
    for kind, cls in TRANSFORMERS.items():
        assert cls.input_type is (FeatureType.NUMERICAL if kind in numeric else FeatureType.CATEGORICAL)


def test_create_transformer() -> None:
    made = create_transformer(TransformerSpec(kind="minmax_scaler", params={"feature_range": [1, 2]}))
    assert isinstance(made, MinMaxScaler) and not made.fitted
    assert made.params["feature_range"] == [1.0, 2.0]
    made = create_transformer({"kind": "onehot_encoder", "params": {"handle_unknown": "unknown"}})
    assert isinstance(made, OneHotEncoder) and made.params == {"handle_unknown": "unknown"}
    assert isinstance(create_transformer({"kind": "label_encoder"}), LabelEncoder)
    assert isinstance(create_transformer("standard_scaler"), StandardScaler)
    with pytest.raises(TransformerError, match="invalid transformer spec"):
        create_transformer({"kind": "pca"})
    with pytest.raises(TransformerError, match="invalid transformer spec"):
        create_transformer({"kind": "label_encoder", "extra": 1})
    with pytest.raises(TransformerError, match="handle_unknown"):
        create_transformer({"kind": "label_encoder", "params": {"handle_unknown": "drop"}})


def test_spec_from_state_rebuilds_the_transformer() -> None:
    """What the store does: keep the spec and the fitted state apart, join them later."""
    fitted = OneHotEncoder(handle_unknown="unknown").fit(WORDS)
    state = fitted.get_state()
    spec = TransformerSpec(kind=state["kind"], params=state["params"])
    joined = {"kind": spec.kind.value, "params": spec.params, "state": state["state"]}
    assert transformer_from_state(joined) == fitted


# -- the specification's async facades -----------------------------------------------------


async def test_numeric_transformer_standard() -> None:
    t = NumericTransformer(config={"method": "standard"})
    assert t.spec == TransformerSpec(kind="standard_scaler", params={"with_mean": True, "with_std": True})
    assert isinstance(t.transformer, StandardScaler) and not t.fitted
    assert await t.fit(NUMBERS) is t and t.fitted
    out = await t.transform(NUMBERS)
    np.testing.assert_array_equal(out, StandardScaler().fit(NUMBERS).transform(NUMBERS))
    assert await t.transform(1.5) == t.transformer.transform_one(1.5)
    assert await t.transform(None) is None
    np.testing.assert_allclose(await t.inverse_transform(out), NUMBERS, rtol=1e-12, atol=1e-9)
    assert await t.inverse_transform(0.0) == pytest.approx(NUMBERS.mean())


async def test_numeric_transformer_minmax_params_pass_through() -> None:
    t = NumericTransformer(config={"method": "minmax", "feature_range": [0, 10], "clip": True})
    assert t.config == {"method": "minmax", "feature_range": [0.0, 10.0], "clip": True}
    assert t.spec.kind is TransformerKind.MINMAX_SCALER
    out = await t.fit_transform([1.0, 2.0, 3.0])
    assert out.tolist() == [0.0, 5.0, 10.0]
    assert (await t.transform([5.0])).tolist() == [10.0]  # clipped
    assert NumericTransformer().method == "standard"


async def test_categorical_transformer() -> None:
    label = CategoricalTransformer(config={"method": "label"})
    await label.fit(WORDS)
    assert (await label.transform(["a", "d", None])).tolist() == [0, 3, -1]
    assert await label.transform("c") == 2
    assert (await label.transform(["zz"])).tolist() == [-1]  # unknown: the reserved code
    strict = CategoricalTransformer(config={"method": "label", "handle_unknown": "error"})
    await strict.fit(WORDS)
    with pytest.raises(UnknownCategoryError):
        await strict.transform(["zz"])
    assert (await label.inverse_transform([0, 3])).tolist() == ["a", "d"]
    assert await label.inverse_transform(3) == "d"

    onehot = CategoricalTransformer(config={"method": "onehot", "handle_unknown": "unknown"})
    assert onehot.spec == TransformerSpec(kind="onehot_encoder", params={"handle_unknown": "unknown"})
    await onehot.fit(WORDS)
    assert (await onehot.transform(["b", "zz"])).tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert await onehot.transform("zz") == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert (await onehot.inverse_transform([[0, 1, 0, 0, 0]])).tolist() == ["b"]
    assert CategoricalTransformer().method == "label"


async def test_facade_save_and_load_state() -> None:
    t = NumericTransformer(config={"method": "minmax"})
    await t.fit([2.0, 4.0])
    state = json.loads(json.dumps(t.save_state()))
    assert state == t.transformer.get_state()
    other = NumericTransformer()  # standard by default: load_state replaces the transformer
    assert other.load_state(state) is other
    assert isinstance(other.transformer, MinMaxScaler) and other.spec == t.spec
    assert other.method == "minmax"
    assert (await other.transform([3.0])).tolist() == [0.5]

    c = CategoricalTransformer(method="onehot")
    await c.fit(["x", "y"])
    restored = CategoricalTransformer().load_state(c.save_state())
    assert restored.transformer == c.transformer
    with pytest.raises(TransformerError, match="cannot hold"):
        NumericTransformer().load_state(c.save_state())
    with pytest.raises(TransformerError, match="cannot hold"):
        CategoricalTransformer().load_state(state)


def test_facade_errors() -> None:
    with pytest.raises(TransformerError, match="unknown numerical method 'robust'"):
        NumericTransformer(config={"method": "robust"})
    with pytest.raises(TransformerError, match="unknown categorical method"):
        CategoricalTransformer(config={"method": "standard"})
    with pytest.raises(TransformerError, match="unknown parameter"):
        NumericTransformer(config={"method": "standard", "feature_range": [0, 1]})
    with pytest.raises(TransformerError, match="handle_unknown"):
        CategoricalTransformer(config={"handle_unknown": "maybe"})
    assert "minmax" in repr(NumericTransformer(config={"method": "minmax"}))
