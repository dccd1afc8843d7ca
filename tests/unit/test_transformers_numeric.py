"""StandardScaler and MinMaxScaler against scikit-learn, plus their null and error handling."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import preprocessing as sk

from fstore.errors import NotFittedError, TransformerError
from fstore.transformers import MinMaxScaler, StandardScaler, Transformer

RTOL, ATOL = 1e-9, 1e-12
FIXED = np.array([3.5, -1.25, 0.0, 7.0, 2.0, 2.0, 1e6, -3e-4, 42.0])

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
columns = st.lists(finite, min_size=1, max_size=200).map(np.array)
ranges = st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-5.0, 250.0), (0.25, 0.5)])


def sk_standard(x: np.ndarray, **params: bool) -> sk.StandardScaler:
    return sk.StandardScaler(**params).fit(x.reshape(-1, 1))


def same_as(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_allclose(ours, np.asarray(theirs).reshape(-1), rtol=RTOL, atol=ATOL)


# -- StandardScaler ------------------------------------------------------------------------


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_standard_scaler_matches_sklearn_on_fixed_data(with_mean: bool, with_std: bool) -> None:
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(FIXED)
    theirs = sk_standard(FIXED, with_mean=with_mean, with_std=with_std)
    out = ours.transform(FIXED)
    assert out.dtype == np.float64
    same_as(out, theirs.transform(FIXED.reshape(-1, 1)))
    same_as(ours.inverse_transform(out), theirs.inverse_transform(out.reshape(-1, 1)))
    state = ours.get_state()["state"]
    assert state["n_samples_seen"] == len(FIXED)
    if with_mean or with_std:
        assert state["mean"] == pytest.approx(theirs.mean_[0], rel=RTOL)
    if with_std:
        assert state["var"] == pytest.approx(theirs.var_[0], rel=RTOL)
        assert state["scale"] == pytest.approx(theirs.scale_[0], rel=RTOL)
    else:
        assert state["var"] is None and state["scale"] is None


def test_standard_scaler_known_values() -> None:
    scaler = StandardScaler().fit([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, population std sqrt(1.25)
    np.testing.assert_allclose(scaler.transform([2.5, 4.0]), [0.0, 1.5 / math.sqrt(1.25)], rtol=1e-15)


@pytest.mark.parametrize("data", [[5.0] * 7, [0.1] * 10, [1e8, 1e8, 1e8], [-3.0]])
def test_standard_scaler_constant_column_has_scale_one_like_sklearn(data: list[float]) -> None:
    x = np.array(data)
    ours = StandardScaler().fit(x)
    theirs = sk_standard(x)
    assert ours.get_state()["state"]["scale"] == theirs.scale_[0] == 1.0
    same_as(ours.transform(x), theirs.transform(x.reshape(-1, 1)))


@settings(max_examples=80, deadline=None)
@given(x=columns, with_mean=st.booleans(), with_std=st.booleans())
def test_standard_scaler_property_matches_sklearn(x: np.ndarray, with_mean: bool, with_std: bool) -> None:
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    theirs = sk_standard(x, with_mean=with_mean, with_std=with_std)
    out = ours.transform(x)
    same_as(out, theirs.transform(x.reshape(-1, 1)))
    same_as(ours.inverse_transform(out), theirs.inverse_transform(out.reshape(-1, 1)))
    assert [ours.transform_one(v) for v in x.tolist()] == out.tolist()


@settings(max_examples=60, deadline=None)
@given(x=columns)
def test_standard_scaler_inverse_round_trip(x: np.ndarray) -> None:
    scaler = StandardScaler().fit(x)
    back = scaler.inverse_transform(scaler.transform(x))
    atol = 1e-9 * max(1.0, float(np.abs(x).max()))
    np.testing.assert_allclose(back, x, rtol=RTOL, atol=atol)
    assert scaler.inverse_transform_one(scaler.transform_one(float(x[0]))) == pytest.approx(x[0], abs=atol)


def test_standard_scaler_ignores_nulls_when_fitting() -> None:
    clean = np.array([1.0, 2.0, 4.0])
    expected = StandardScaler().fit(clean).get_state()
    for dirty in (
        [1.0, None, 2.0, 4.0],
        np.array([np.nan, 1.0, 2.0, np.nan, 4.0]),
        pd.Series([1.0, None, 2.0, 4.0]),
        pd.Series([1, None, 2, 4], dtype="Int64"),
        pa.array([1.0, None, 2.0, 4.0]),
        pa.chunked_array([[1.0, None], [2.0, 4.0]]),
    ):
        state = StandardScaler().fit(dirty).get_state()
        assert state["state"]["n_samples_seen"] == 3
        assert state["state"]["mean"] == pytest.approx(expected["state"]["mean"], rel=1e-15)
        assert state["state"]["var"] == pytest.approx(expected["state"]["var"], rel=1e-15)
    # sklearn ignores NaN the same way
    nan_data = np.array([np.nan, 1.0, 2.0, np.nan, 4.0])
    same_as(
        StandardScaler().fit(nan_data).transform(clean), sk_standard(nan_data).transform(clean.reshape(-1, 1))
    )


# -- MinMaxScaler --------------------------------------------------------------------------


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 10.0)])
@pytest.mark.parametrize("clip", [False, True])
def test_minmax_scaler_matches_sklearn_on_fixed_data(feature_range: tuple[float, float], clip: bool) -> None:
    ours = MinMaxScaler(feature_range=feature_range, clip=clip).fit(FIXED)
    theirs = sk.MinMaxScaler(feature_range=feature_range, clip=clip).fit(FIXED.reshape(-1, 1))
    probe = np.concatenate([FIXED, [-1e7, 2e6, 0.5]])  # outside the fitted range too
    out = ours.transform(probe)
    same_as(out, theirs.transform(probe.reshape(-1, 1)))
    if clip:
        assert out.min() >= feature_range[0] and out.max() <= feature_range[1]
    else:
        assert out.min() < feature_range[0]
    state = ours.get_state()["state"]
    assert state["data_min"] == theirs.data_min_[0] and state["data_max"] == theirs.data_max_[0]
    assert state["scale"] == pytest.approx(theirs.scale_[0], rel=RTOL)
    assert state["min"] == pytest.approx(theirs.min_[0], rel=RTOL, abs=ATOL)


def test_minmax_scaler_known_values() -> None:
    scaler = MinMaxScaler(feature_range=(0, 10)).fit([2.0, 4.0, 6.0])
    np.testing.assert_array_equal(scaler.transform([2.0, 4.0, 6.0, 8.0]), [0.0, 5.0, 10.0, 15.0])
    assert scaler.inverse_transform_one(5.0) == 4.0


@pytest.mark.parametrize("data", [[3.0] * 4, [0.0], [-7.5, -7.5]])
def test_minmax_scaler_constant_column_like_sklearn(data: list[float]) -> None:
    x = np.array(data)
    ours = MinMaxScaler(feature_range=(-2, 3)).fit(x)
    theirs = sk.MinMaxScaler(feature_range=(-2, 3)).fit(x.reshape(-1, 1))
    assert ours.get_state()["state"]["scale"] == theirs.scale_[0] == 5.0
    same_as(ours.transform(x + 1.0), theirs.transform((x + 1.0).reshape(-1, 1)))


@settings(max_examples=80, deadline=None)
@given(x=columns, probe=columns, feature_range=ranges, clip=st.booleans())
def test_minmax_scaler_property_matches_sklearn(
    x: np.ndarray, probe: np.ndarray, feature_range: tuple[float, float], clip: bool
) -> None:
    ours = MinMaxScaler(feature_range=feature_range, clip=clip).fit(x)
    theirs = sk.MinMaxScaler(feature_range=feature_range, clip=clip).fit(x.reshape(-1, 1))
    out = ours.transform(probe)
    same_as(out, theirs.transform(probe.reshape(-1, 1)))
    same_as(ours.inverse_transform(out), theirs.inverse_transform(out.reshape(-1, 1)))
    assert [ours.transform_one(v) for v in probe.tolist()] == out.tolist()


def test_minmax_scaler_ignores_nulls_when_fitting() -> None:
    scaler = MinMaxScaler().fit(pa.array([None, 10.0, None, 20.0]))
    assert scaler.get_state()["state"] == {
        "data_min": 10.0,
        "data_max": 20.0,
        "scale": 0.1,
        "min": -1.0,
        "n_samples_seen": 2,
    }


# -- shared scaler behaviour ---------------------------------------------------------------

SCALERS = [
    pytest.param(lambda: StandardScaler(), id="standard"),
    pytest.param(lambda: StandardScaler(with_mean=False), id="standard-no-mean"),
    pytest.param(lambda: MinMaxScaler(feature_range=(-3, 3), clip=True), id="minmax-clip"),
    pytest.param(lambda: MinMaxScaler(), id="minmax"),
]


@pytest.mark.parametrize("make", SCALERS)
def test_nulls_in_transform(make: Callable[[], Transformer]) -> None:
    scaler = make().fit(FIXED)
    out = scaler.transform([1.0, None, np.nan, 2.0])
    assert np.isnan(out[1]) and np.isnan(out[2]) and not np.isnan(out[0]) and not np.isnan(out[3])
    assert np.isnan(scaler.transform(pa.array([None, 1.0]))[0])
    assert scaler.transform_one(None) is None
    assert math.isnan(scaler.transform_one(float("nan")))
    assert scaler.inverse_transform_one(None) is None
    assert np.isnan(scaler.inverse_transform([np.nan])[0])


@pytest.mark.parametrize("make", SCALERS)
def test_every_input_type_gives_the_same_output(make: Callable[[], Transformer]) -> None:
    scaler = make().fit(FIXED)
    expected = scaler.transform(FIXED)
    ints = np.array([1, 2, 3])
    for values in (
        FIXED.tolist(),
        tuple(FIXED.tolist()),
        FIXED.reshape(-1, 1),
        pd.Series(FIXED),
        pa.array(FIXED),
        pa.chunked_array([FIXED[:4], FIXED[4:]]),
    ):
        out = scaler.transform(values)
        assert out.shape == (len(FIXED),)
        np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(scaler.transform(ints), scaler.transform(ints.astype(float)))
    np.testing.assert_array_equal(scaler.transform(pa.array([1, 2, 3])), scaler.transform([1.0, 2.0, 3.0]))
    assert scaler.transform([]).shape == (0,)


@pytest.mark.parametrize("make", SCALERS)
def test_transform_one_matches_transform_and_returns_floats(make: Callable[[], Transformer]) -> None:
    scaler = make().fit(FIXED)
    probe = [0, 1, -2, 3.25, 1e6, True, np.float64(2.5), np.int64(4), np.float32(0.5)]
    expected = scaler.transform(np.array(probe, dtype=np.float64))
    got = [scaler.transform_one(v) for v in probe]
    assert all(type(v) is float for v in got)
    assert got == expected.tolist()


@pytest.mark.parametrize("make", SCALERS)
def test_not_fitted(make: Callable[[], Transformer]) -> None:
    fresh = make()
    assert not fresh.fitted
    for call in (
        lambda: fresh.transform([1.0]),
        lambda: fresh.transform_one(1.0),
        lambda: fresh.transform_one(None),
        lambda: fresh.inverse_transform([1.0]),
        lambda: fresh.inverse_transform_one(1.0),
    ):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
    assert fresh.fit([1.0, 2.0]) is fresh and fresh.fitted


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize(
    "values",
    [[], [None, None], [np.nan], pa.array([None, None], pa.float64()), pd.Series([np.nan, np.nan])],
    ids=["empty", "nones", "nan", "arrow-nulls", "pandas-nans"],
)
def test_fitting_on_no_values_fails(cls: type[Transformer], values: object) -> None:
    scaler = cls()
    with pytest.raises(TransformerError, match="zero non-null values"):
        scaler.fit(values)
    assert not scaler.fitted


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_bad_values(cls: type[Transformer]) -> None:
    with pytest.raises(TransformerError, match="infinite"):
        cls().fit([1.0, math.inf])
    for values in (["a", "b"], np.array(["1.5"]), pa.array(["x"]), [1.0, "2"], pd.Series(["a"])):
        with pytest.raises(TransformerError, match="numbers"):
            cls().fit(values)
    fitted = cls().fit([1.0, 2.0])
    with pytest.raises(TransformerError, match="number"):
        fitted.transform_one("1.5")
    with pytest.raises(TransformerError, match="number"):
        fitted.transform_one([1.0])
    with pytest.raises(TransformerError, match="1-D"):
        fitted.transform(np.ones((3, 2)))


def test_fitting_values_that_overflow_fails() -> None:
    with pytest.raises(TransformerError, match="overflows"):
        StandardScaler().fit([1e308, 1.7e308, -1.7e308])
    with pytest.raises(TransformerError, match="overflows"):
        MinMaxScaler().fit([1.7e308, -1.7e308])


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (StandardScaler, {"with_mean": "yes"}, "with_mean"),
        (StandardScaler, {"with_std": 1}, "with_std"),
        (StandardScaler, {"center": True}, "unknown parameter"),
        (MinMaxScaler, {"feature_range": (1, 0)}, "feature_range"),
        (MinMaxScaler, {"feature_range": (1, 1)}, "feature_range"),
        (MinMaxScaler, {"feature_range": (0,)}, "feature_range"),
        (MinMaxScaler, {"feature_range": (0, 1, 2)}, "feature_range"),
        (MinMaxScaler, {"feature_range": ("0", 1)}, "feature_range"),
        (MinMaxScaler, {"feature_range": (0, math.inf)}, "feature_range"),
        (MinMaxScaler, {"feature_range": (False, True)}, "feature_range"),
        (MinMaxScaler, {"feature_range": "01"}, "feature_range"),
        (MinMaxScaler, {"feature_range": 1}, "feature_range"),
        (MinMaxScaler, {"clip": "no"}, "clip"),
    ],
)
def test_bad_params(cls: type[Transformer], params: dict[str, object], message: str) -> None:
    with pytest.raises(TransformerError, match=message):
        cls(**params)


def test_params_are_normalised_json() -> None:
    scaler = MinMaxScaler(feature_range=(np.int64(-1), 2))
    assert scaler.params == {"feature_range": [-1.0, 2.0], "clip": False}
    assert json.loads(json.dumps(scaler.params)) == scaler.params
    scaler.params["clip"] = True  # a copy: the transformer does not change
    assert scaler.params["clip"] is False
    assert StandardScaler().params == {"with_mean": True, "with_std": True}


def test_scalers_have_width_one() -> None:
    scaler = StandardScaler()
    assert scaler.output_width == 1
    assert scaler.output_names("amount") == ["amount"]
