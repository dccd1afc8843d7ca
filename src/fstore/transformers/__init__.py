"""Feature transformers: scalers and encoders with JSON state, plus the specification's
async facades (``NumericTransformer``, ``CategoricalTransformer``).

``create_transformer(spec)`` builds an unfitted transformer from a kind and parameters;
``transformer_from_state(state)`` rebuilds a (fitted) one from ``Transformer.get_state()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from fstore.errors import TransformerError
from fstore.models import TransformerKind, TransformerSpec
from fstore.transformers.base import Transformer
from fstore.transformers.categorical import LabelEncoder, OneHotEncoder, lenient
from fstore.transformers.compat import CategoricalTransformer, NumericTransformer
from fstore.transformers.numeric import MinMaxScaler, StandardScaler

TRANSFORMERS: dict[TransformerKind, type[Transformer]] = {
    TransformerKind.STANDARD_SCALER: StandardScaler,
    TransformerKind.MINMAX_SCALER: MinMaxScaler,
    TransformerKind.LABEL_ENCODER: LabelEncoder,
    TransformerKind.ONEHOT_ENCODER: OneHotEncoder,
}


def create_transformer(spec: TransformerSpec | Mapping[str, Any] | str) -> Transformer:
    """An unfitted transformer from a spec, a ``{"kind", "params"}`` mapping or a kind name."""
    if not isinstance(spec, TransformerSpec):
        data = {"kind": spec} if isinstance(spec, str) else spec
        try:
            spec = TransformerSpec.model_validate(data)
        except PydanticValidationError as exc:
            known = ", ".join(repr(k.value) for k in TransformerKind)
            raise TransformerError(f"invalid transformer spec {data!r} (kinds: {known}): {exc}") from None
    return TRANSFORMERS[spec.kind](**spec.params)


def transformer_from_state(state: Mapping[str, Any]) -> Transformer:
    """A transformer rebuilt from ``Transformer.get_state()`` output (fitted if it has a state)."""
    return Transformer.from_state(state)


__all__ = [
    "TRANSFORMERS",
    "CategoricalTransformer",
    "LabelEncoder",
    "MinMaxScaler",
    "NumericTransformer",
    "OneHotEncoder",
    "StandardScaler",
    "Transformer",
    "create_transformer",
    "lenient",
    "transformer_from_state",
]
