"""Normalising the many ways a user can name a transformer into (spec, fitted state)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fstore.errors import ValidationError
from fstore.models import TransformerSpec
from fstore.transformers import Transformer, create_transformer

TransformerLike = TransformerSpec | Transformer | Mapping[str, Any] | str | Any


def transformer_parts(
    transformer: TransformerLike | None,
) -> tuple[TransformerSpec | None, dict[str, Any] | None]:
    """(spec, fitted state) from any way a user can name a transformer."""
    if transformer is None:
        return None, None
    inner = getattr(transformer, "transformer", None)  # the specification's facade classes
    if isinstance(inner, Transformer):
        transformer = inner
    if isinstance(transformer, Transformer):
        state = transformer.get_state()
        spec = TransformerSpec(kind=state["kind"], params=state["params"])
        return spec, state.get("state") if transformer.fitted else None
    if isinstance(transformer, TransformerSpec):
        return transformer, None
    if isinstance(transformer, str):
        return TransformerSpec(kind=transformer), None
    if isinstance(transformer, Mapping):
        data = dict(transformer)
        state = data.pop("state", None)
        spec = TransformerSpec.model_validate(data)
        if state is not None:
            create_transformer(spec)  # validates params before the state is trusted
        return spec, state
    raise ValidationError(f"not a transformer: {transformer!r}")
