"""LabelEncoder and OneHotEncoder against scikit-learn, unknown-category policies and nulls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import preprocessing as sk

from fstore.errors import NotFittedError, TransformerError, UnknownCategoryError
from fstore.transformers import LabelEncoder, OneHotEncoder, Transformer, lenient
from fstore.transformers.categorical import UNKNOWN_CODE

COLORS = ["red", "green", "blue", "green", "Red", "été", "", "red"]
SORTED = ["", "Red", "blue", "green", "red", "été"]  # code-point order, like np.unique


@st.composite
def category_data(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """(fit values, probe values): drawn from a small pool so values repeat; the probe may
    hold values never fitted."""
    pool = draw(st.lists(st.text(max_size=4), min_size=1, max_size=8, unique=True))
    fit = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=60))
    extra = draw(st.lists(st.text(max_size=3), max_size=4))
    probe = draw(st.lists(st.sampled_from(pool + extra), max_size=60))
    return fit, probe


def objects(values: list[str]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


# -- fitting and sklearn parity ------------------------------------------------------------


@pytest.mark.parametrize("cls", [LabelEncoder, OneHotEncoder])
def test_categories_are_sorted_like_sklearn(cls: type[LabelEncoder | OneHotEncoder]) -> None:
    encoder = cls().fit(COLORS)
    assert encoder.categories == SORTED == sk.LabelEncoder().fit(objects(COLORS)).classes_.tolist()
    assert encoder.get_state()["state"] == {"categories": SORTED}


def test_label_encoder_matches_sklearn_on_fixed_data() -> None:
    ours = LabelEncoder().fit(COLORS)
    theirs = sk.LabelEncoder().fit(objects(COLORS))
    codes = ours.transform(COLORS)
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, theirs.transform(objects(COLORS)))
    assert codes.tolist() == [4, 3, 2, 3, 1, 5, 0, 4]
    assert ours.inverse_transform(codes).tolist() == theirs.inverse_transform(codes).tolist() == COLORS


def test_onehot_encoder_matches_sklearn_on_fixed_data() -> None:
    ours = OneHotEncoder().fit(COLORS)
    theirs = sk.OneHotEncoder(sparse_output=False).fit(objects(COLORS).reshape(-1, 1))
    out = ours.transform(COLORS)
    assert out.dtype == np.float64 and out.shape == (len(COLORS), len(SORTED))
    np.testing.assert_array_equal(out, theirs.transform(objects(COLORS).reshape(-1, 1)))
    assert ours.inverse_transform(out).tolist() == COLORS
    assert ours.output_width == len(SORTED)
    assert ours.output_names("color") == [f"color__{c}" for c in SORTED]


@settings(max_examples=80, deadline=None)
@given(data=category_data())
def test_label_encoder_property_matches_sklearn(data: tuple[list[str], list[str]]) -> None:
    fit, probe = data
    ours = LabelEncoder(handle_unknown="ignore").fit(fit)
    theirs = sk.LabelEncoder().fit(objects(fit))
    assert ours.categories == theirs.classes_.tolist()
    known = [v for v in probe if v in set(fit)]
    np.testing.assert_array_equal(ours.transform(known), theirs.transform(objects(known)).astype(np.int64))
    codes = ours.transform(probe)
    assert codes.tolist() == [ours.transform_one(v) for v in probe]
    assert codes.tolist() == [theirs.transform([v])[0] if v in set(fit) else -1 for v in probe]
    assert ours.inverse_transform(codes).tolist() == [v if v in set(fit) else None for v in probe]


@settings(max_examples=80, deadline=None)
@given(data=category_data())
def test_onehot_encoder_property_matches_sklearn(data: tuple[list[str], list[str]]) -> None:
    fit, probe = data
    ours = OneHotEncoder(handle_unknown="ignore").fit(fit)
    theirs = sk.OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(objects(fit).reshape(-1, 1))
    assert ours.categories == theirs.categories_[0].tolist()
    out = ours.transform(probe)
    assert out.shape == (len(probe), ours.output_width)
    if probe:
        np.testing.assert_array_equal(out, theirs.transform(objects(probe).reshape(-1, 1)))
    assert out.tolist() == [ours.transform_one(v) for v in probe]
    assert ours.inverse_transform(out).tolist() == [v if v in set(fit) else None for v in probe]


@settings(max_examples=50, deadline=None)
@given(data=category_data(), policy=st.sampled_from(["ignore", "unknown"]))
def test_unknown_bucket_property(data: tuple[list[str], list[str]], policy: str) -> None:
    fit, probe = data
    label = LabelEncoder(handle_unknown=policy).fit(fit)
    onehot = OneHotEncoder(handle_unknown=policy).fit(fit)
    n = len(set(fit))
    miss = n if policy == "unknown" else -1
    expected = [label.categories.index(v) if v in set(fit) else miss for v in probe]
    assert label.transform(probe).tolist() == expected
    rows = onehot.transform(probe)
    assert onehot.output_width == n + (policy == "unknown")
    for row, code in zip(rows.tolist(), expected, strict=True):
        assert row == [1.0 if i == code else 0.0 for i in range(onehot.output_width)]


# -- unknown categories ---------------------------------------------------------------------


def test_default_unknown_policy_matches_sklearn_ignore() -> None:
    # The default policy never raises: one-hot as OneHotEncoder(handle_unknown="ignore"),
    # label codes as OrdinalEncoder's reserved unknown value -1.
    fit, probe = ["b", "a", "c", "a"], ["a", "zz", "c", "", "b", "yy"]
    label, onehot = LabelEncoder().fit(fit), OneHotEncoder().fit(fit)
    assert label.params == onehot.params == {"handle_unknown": "ignore"}
    ordinal = sk.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNKNOWN_CODE)
    ordinal.fit(objects(fit).reshape(-1, 1))
    expected = ordinal.transform(objects(probe).reshape(-1, 1)).ravel().astype(np.int64)
    assert label.transform(probe).tolist() == expected.tolist() == [0, -1, 2, -1, 1, -1]
    assert [label.transform_one(v) for v in probe] == expected.tolist()
    theirs = sk.OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    theirs.fit(objects(fit).reshape(-1, 1))
    np.testing.assert_array_equal(onehot.transform(probe), theirs.transform(objects(probe).reshape(-1, 1)))
    assert [onehot.transform_one(v) for v in probe] == onehot.transform(probe).tolist()


def test_lenient_reads_error_as_ignore() -> None:
    assert lenient({"handle_unknown": "error"}) == {"handle_unknown": "ignore"}
    assert lenient({"handle_unknown": "unknown"}) == {"handle_unknown": "unknown"}
    assert lenient({}) == {}
    assert lenient({"with_mean": True}) == {"with_mean": True}


@pytest.mark.parametrize("cls", [LabelEncoder, OneHotEncoder])
def test_unknown_error_names_value_and_row(cls: type[Transformer]) -> None:
    encoder = cls(handle_unknown="error").fit(["a", "b"])
    with pytest.raises(UnknownCategoryError, match=r"'zz' at row 2") as info:
        encoder.transform(["a", None, "zz", "b", "yy"])
    assert info.value.details == {"value": "zz", "row": 2}
    with pytest.raises(UnknownCategoryError, match="'zz'") as one:
        encoder.transform_one("zz")
    assert one.value.details == {"value": "zz"}
    assert isinstance(info.value, TransformerError)


def test_label_encoder_ignore_and_unknown() -> None:
    ignore = LabelEncoder(handle_unknown="ignore").fit(["b", "a"])
    assert ignore.transform(["a", "x", "b", None]).tolist() == [0, -1, 1, -1]
    assert ignore.transform_one("x") == -1
    unknown = LabelEncoder(handle_unknown="unknown").fit(["b", "a"])
    assert unknown.transform(["a", "x", "b", None]).tolist() == [0, 2, 1, -1]
    assert unknown.transform_one("x") == 2
    assert unknown.inverse_transform([0, 2, -1, 1]).tolist() == ["a", None, None, "b"]
    assert unknown.inverse_transform_one(2) is None
    assert unknown.output_width == 1 and unknown.output_names("f") == ["f"]
    with pytest.raises(TransformerError, match="not a code"):
        ignore.inverse_transform([2])  # 2 is only a code with handle_unknown="unknown"
    with pytest.raises(TransformerError, match="not a code"):
        ignore.inverse_transform_one(2)


def test_onehot_encoder_ignore_and_unknown() -> None:
    ignore = OneHotEncoder(handle_unknown="ignore").fit(["b", "a"])
    np.testing.assert_array_equal(ignore.transform(["x", "b"]), [[0.0, 0.0], [0.0, 1.0]])
    assert ignore.transform_one("x") == [0.0, 0.0]
    unknown = OneHotEncoder(handle_unknown="unknown").fit(["b", "a"])
    np.testing.assert_array_equal(unknown.transform(["x", "b", None]), [[0, 0, 1], [0, 1, 0], [0, 0, 0]])
    assert unknown.transform_one("x") == [0.0, 0.0, 1.0]
    assert unknown.output_width == 3
    assert unknown.output_names("color") == ["color__a", "color__b", "color____unknown__"]
    assert unknown.inverse_transform([[0, 0, 1], [1, 0, 0], [0, 0, 0]]).tolist() == [None, "a", None]
    assert unknown.inverse_transform_one([0.0, 0.0, 1.0]) is None
    assert unknown.inverse_transform_one([0.0, 1.0, 0.0]) == "b"


# -- nulls ---------------------------------------------------------------------------------

NULL_BATCHES = [
    ["a", None, "b"],
    ["a", float("nan"), "b"],
    objects(["a", None, "b"]),
    np.array(["a", np.nan, "b"], dtype=object),
    pd.Series(["a", None, "b"]),
    pd.Series(["a", pd.NA, "b"], dtype="string"),
    pd.Series(["a", None, "b"], dtype="category"),
    pa.array(["a", None, "b"]),
    pa.array(["a", None, "b"], pa.large_string()),
    pa.array(["a", None, "b"]).dictionary_encode(),
    pa.chunked_array([["a"], [None, "b"]]),
]


@pytest.mark.parametrize("values", NULL_BATCHES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("policy", ["error", "ignore", "unknown"])
def test_nulls_are_never_an_error(values: object, policy: str) -> None:
    label = LabelEncoder(handle_unknown=policy).fit(values)
    onehot = OneHotEncoder(handle_unknown=policy).fit(values)
    assert label.categories == onehot.categories == ["a", "b"]
    assert label.transform(values).tolist() == [0, -1, 1]
    rows = onehot.transform(values).tolist()
    assert rows[1] == [0.0] * onehot.output_width and rows[0][0] == 1.0 and rows[2][1] == 1.0
    for null in (None, float("nan"), np.nan, pd.NA):
        assert label.transform_one(null) == -1
        assert onehot.transform_one(null) == [0.0] * onehot.output_width
    assert label.inverse_transform([0, -1, None, 1]).tolist() == ["a", None, None, "b"]
    assert label.inverse_transform_one(-1) is None and label.inverse_transform_one(None) is None
    assert onehot.inverse_transform_one(None) is None


@pytest.mark.parametrize("cls", [LabelEncoder, OneHotEncoder])
@pytest.mark.parametrize(
    "values",
    [[], [None], [None, float("nan")], pa.array([None, None], pa.string()), pd.Series([None, None])],
    ids=["empty", "none", "nan", "arrow", "pandas"],
)
def test_fitting_on_no_values_fails(cls: type[Transformer], values: object) -> None:
    encoder = cls()
    with pytest.raises(TransformerError, match="zero non-null values"):
        encoder.fit(values)
    assert not encoder.fitted


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LabelEncoder, OneHotEncoder])
def test_values_must_be_strings(cls: type[Transformer]) -> None:
    for values in ([1, 2], [1.5], ["a", 1], pa.array([1, 2]), np.array([1, 2]), pd.Series([True])):
        with pytest.raises(TransformerError, match="strings"):
            cls().fit(values)
    encoder = cls(handle_unknown="ignore").fit(["1", "a"])
    for value in (1, 1.5, True, b"a"):
        with pytest.raises(TransformerError, match="strings"):
            encoder.transform_one(value)
    with pytest.raises(TransformerError, match="strings"):
        encoder.transform([1])


@pytest.mark.parametrize("cls", [LabelEncoder, OneHotEncoder])
def test_not_fitted(cls: type[LabelEncoder | OneHotEncoder]) -> None:
    encoder = cls()
    calls = [
        lambda: encoder.transform(["a"]),
        lambda: encoder.transform_one("a"),
        lambda: encoder.transform_one(None),
        lambda: encoder.inverse_transform([0]),
        lambda: encoder.inverse_transform_one(0),
        lambda: encoder.categories,
    ]
    if cls is OneHotEncoder:
        calls += [lambda: encoder.output_width, lambda: encoder.output_names("f")]
    for call in calls:
        with pytest.raises(NotFittedError):
            call()


@pytest.mark.parametrize("cls", [LabelEncoder, OneHotEncoder])
@pytest.mark.parametrize(
    "params", [{"handle_unknown": "skip"}, {"handle_unknown": None}, {"handle_unknown": 1}, {"sparse": False}]
)
def test_bad_params(cls: type[Transformer], params: dict[str, object]) -> None:
    with pytest.raises(TransformerError, match=r"handle_unknown|unknown parameter"):
        cls(**params)


def test_label_inverse_rejects_bad_codes() -> None:
    encoder = LabelEncoder().fit(["a", "b"])
    for codes in ([5], [-2], [0.5], [0, 1, 7]):
        with pytest.raises(TransformerError, match="not a code"):
            encoder.inverse_transform(codes)
    with pytest.raises(TransformerError, match="not a code") as info:
        encoder.inverse_transform([0, 1, 7])
    assert info.value.details["row"] == 2
    for code in (5, -2, 0.5, "a"):
        with pytest.raises(TransformerError, match="not a code"):
            encoder.inverse_transform_one(code)
    assert encoder.inverse_transform_one(np.int64(1)) == "b"
    assert encoder.inverse_transform_one(1.0) == "b"
    assert encoder.inverse_transform(pa.array([1, None, 0])).tolist() == ["b", None, "a"]


def test_onehot_inverse_rejects_bad_shapes() -> None:
    encoder = OneHotEncoder().fit(["a", "b"])
    for rows in ([[1.0, 0.0, 0.0]], [1.0, 0.0], [[1.0], [0.0, 1.0]]):
        with pytest.raises(TransformerError, match=r"columns|lists"):
            encoder.inverse_transform(rows)
    with pytest.raises(TransformerError, match="2 values"):
        encoder.inverse_transform_one([1.0])
    assert encoder.inverse_transform([]).tolist() == []
    assert encoder.inverse_transform([[0.0, 1.0], None]).tolist() == ["b", None]
    lists = pa.array([[1.0, 0.0], None, [0.0, 1.0]], pa.list_(pa.float64()))
    assert encoder.inverse_transform(lists).tolist() == ["a", None, "b"]


def test_transform_accepts_every_input_type() -> None:
    encoder = OneHotEncoder().fit(COLORS)
    expected = encoder.transform(COLORS)
    for values in (
        tuple(COLORS),
        np.array(COLORS),
        objects(COLORS),
        objects(COLORS).reshape(-1, 1),
        pd.Series(COLORS),
        pd.Series(COLORS, dtype="category"),
        pa.array(COLORS),
        pa.chunked_array([COLORS[:3], COLORS[3:]]),
        iter(COLORS),
    ):
        np.testing.assert_array_equal(encoder.transform(values), expected)
    assert encoder.transform([]).shape == (0, len(SORTED))
    assert LabelEncoder().fit(COLORS).transform([]).tolist() == []


def test_transform_one_returns_plain_python_values() -> None:
    label = LabelEncoder().fit(COLORS)
    onehot = OneHotEncoder().fit(COLORS)
    for value in SORTED:
        code = label.transform_one(value)
        assert type(code) is int and code == label.transform([value])[0]
        row = onehot.transform_one(value)
        assert type(row) is list and all(type(v) is float for v in row)
        assert row == onehot.transform([value])[0].tolist()
        assert onehot.transform_one(value) is not row  # a fresh list each call
        assert label.inverse_transform_one(code) == value == onehot.inverse_transform_one(row)
    assert label.transform_one(np.str_("red")) == SORTED.index("red")
