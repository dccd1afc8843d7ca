"""The specification's async facades over the transformers.

    t = NumericTransformer(config={"method": "standard"})   # or "minmax" (+ "feature_range")
    await t.fit(values)
    out = await t.transform(batch)
    c = CategoricalTransformer(config={"method": "onehot", "handle_unknown": "ignore"})

``config`` holds ``method`` plus the underlying transformer's parameters (passed through and
validated by it). The async methods call the synchronous transformer directly (the work is
vectorised and short). ``transform``/``inverse_transform`` take a batch (→ numpy array) or
a single scalar value (→ ``transform_one`` / ``inverse_transform_one``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np

from fstore.errors import TransformerError
from fstore.models import FeatureType, TransformerKind, TransformerSpec
from fstore.transformers.base import Transformer, registry

_SCALARS = (str, bytes, int, float, np.generic)


def _is_scalar(data: Any) -> bool:
    return data is None or isinstance(data, _SCALARS)


class FeatureTransformer:
    """Common base of the facades: ``.transformer`` (the real one) and ``.spec``."""

    feature_type: ClassVar[FeatureType]
    methods: ClassVar[dict[str, TransformerKind]]
    default_method: ClassVar[str]

    def __init__(self, config: Mapping[str, Any] | None = None, **options: Any) -> None:
        settings = {**(config or {}), **options}
        kind = self._kind_of(settings.pop("method", self.default_method))
        self._use(registry()[kind](**settings))

    @classmethod
    def _kind_of(cls, method: Any) -> TransformerKind:
        kind = cls.methods.get(method) if isinstance(method, str) else None
        if kind is None:
            names = ", ".join(repr(m) for m in cls.methods)
            raise TransformerError(f"unknown {cls.feature_type.value} method {method!r} (one of {names})")
        return kind

    def _use(self, transformer: Transformer) -> None:
        if transformer.input_type is not self.feature_type:
            raise TransformerError(
                f"{type(self).__name__} cannot hold a {transformer.kind.value} "
                f"(a {transformer.input_type.value} transformer)"
            )
        self.transformer: Transformer = transformer
        self.spec = TransformerSpec(kind=transformer.kind, params=transformer.params)

    @property
    def method(self) -> str:
        """The configured method (its short name)."""
        return next(m for m, k in self.methods.items() if k is self.transformer.kind)

    @property
    def config(self) -> dict[str, Any]:
        """The method and its parameters, as given to the constructor."""
        return {"method": self.method, **self.transformer.params}

    @property
    def fitted(self) -> bool:
        """Whether the underlying transformer is fitted."""
        return self.transformer.fitted

    async def fit(self, data: Any) -> Self:
        """Learn the state from ``data`` (nulls are ignored); returns ``self``."""
        self.transformer.fit(data)
        return self

    async def transform(self, data: Any) -> Any:
        """Transform one value, or an array-like of values, with the fitted state."""
        if _is_scalar(data):
            return self.transformer.transform_one(data)
        return self.transformer.transform(data)

    async def fit_transform(self, data: Any) -> Any:
        """``fit(data)`` then ``transform(data)``."""
        await self.fit(data)
        return await self.transform(data)

    async def inverse_transform(self, data: Any) -> Any:
        """The raw value(s) that ``transform`` maps to ``data``."""
        if _is_scalar(data):
            return self.transformer.inverse_transform_one(data)
        return self.transformer.inverse_transform(data)

    def save_state(self) -> dict[str, Any]:
        """``Transformer.get_state()`` of the underlying transformer (plain JSON data)."""
        return self.transformer.get_state()

    def load_state(self, state: Mapping[str, Any]) -> Self:
        """Replace the underlying transformer by one rebuilt from ``save_state()`` output."""
        self._use(Transformer.from_state(state))
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(config={self.config!r})"


class NumericTransformer(FeatureTransformer):
    """``method``: ``"standard"`` (default) or ``"minmax"``."""

    feature_type: ClassVar[FeatureType] = FeatureType.NUMERICAL
    methods: ClassVar[dict[str, TransformerKind]] = {
        "standard": TransformerKind.STANDARD_SCALER,
        "minmax": TransformerKind.MINMAX_SCALER,
        "standard_scaler": TransformerKind.STANDARD_SCALER,
        "minmax_scaler": TransformerKind.MINMAX_SCALER,
    }
    default_method: ClassVar[str] = "standard"


class CategoricalTransformer(FeatureTransformer):
    """``method``: ``"label"`` (default) or ``"onehot"``; ``handle_unknown`` passes through."""

    feature_type: ClassVar[FeatureType] = FeatureType.CATEGORICAL
    methods: ClassVar[dict[str, TransformerKind]] = {
        "label": TransformerKind.LABEL_ENCODER,
        "onehot": TransformerKind.ONEHOT_ENCODER,
        "label_encoder": TransformerKind.LABEL_ENCODER,
        "onehot_encoder": TransformerKind.ONEHOT_ENCODER,
        "one_hot": TransformerKind.ONEHOT_ENCODER,
    }
    default_method: ClassVar[str] = "label"
