"""The transformer contract (scikit-learn-like) shared by every transformer.

A transformer is built from JSON-compatible parameters, fitted on a column of raw values
(nulls are ignored), and then transforms batches (vectorised, ``numpy`` out) or single
values (pure Python, for the online serving path). Its whole state is plain JSON data, so a
fitted transformer can be stored with a feature version and rebuilt anywhere with exactly
the same outputs.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from fstore.errors import NotFittedError, TransformerError
from fstore.models import FeatureType, TransformerKind

_REGISTRY: dict[TransformerKind, type[Transformer]] = {}


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TransformerError(f"parameter {name!r} must be true or false, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise TransformerError(f"parameter {name!r} must be one of {options}, got {value!r}")
    return value


class Transformer(ABC):
    """Abstract base: ``fit`` → ``transform`` / ``transform_one`` → ``inverse_transform``.

    Subclasses declare ``kind``, ``input_type`` and ``defaults`` (parameter name → default),
    and implement the ``_check_params``, ``_fit``, ``_get_state`` and ``_set_state`` hooks
    plus the transform methods.
    """

    kind: ClassVar[TransformerKind]
    input_type: ClassVar[FeatureType]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is not None:
            _REGISTRY[kind] = cls

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise TransformerError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for {self.kind.value} "
                f"(allowed: {allowed})"
            )
        self._params: dict[str, Any] = self._check_params({**copy.deepcopy(self.defaults), **params})
        self._fitted = False

    # -- parameters and state --------------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """The (normalised, JSON-compatible) parameters; a copy."""
        return copy.deepcopy(self._params)

    @property
    def fitted(self) -> bool:
        """Whether the transformer holds a fitted state (``fit`` or a loaded state)."""
        return self._fitted

    def get_state(self) -> dict[str, Any]:
        """``{"kind": ..., "params": {...}, "state": {...} or None}``, plain JSON data."""
        return {
            "kind": self.kind.value,
            "params": self.params,
            "state": self._get_state() if self._fitted else None,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Transformer:
        """Rebuild a transformer from ``get_state()`` output (dispatches on ``kind``)."""
        if not isinstance(state, Mapping):
            raise TransformerError(f"a transformer state must be a mapping, got {type(state).__name__}")
        kind = state.get("kind")
        try:
            target = _REGISTRY[TransformerKind(kind)]
        except (ValueError, KeyError):
            known = ", ".join(repr(k.value) for k in _REGISTRY)
            raise TransformerError(f"unknown transformer kind {kind!r} (known: {known})") from None
        if not issubclass(target, cls):
            raise TransformerError(f"state of a {target.kind.value} cannot build a {cls.__name__}")
        params = state.get("params") or {}
        if not isinstance(params, Mapping):
            raise TransformerError("transformer 'params' must be a mapping")
        transformer = target(**params)
        fitted = state.get("state")
        if fitted is not None:
            if not isinstance(fitted, Mapping):
                raise TransformerError("transformer 'state' must be a mapping or null")
            try:
                transformer._set_state(fitted)
            except TransformerError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise TransformerError(f"invalid {target.kind.value} state: {exc!r}") from None
            transformer._fitted = True
        return transformer

    def save(self, path: str | Path) -> None:
        """Write ``get_state()`` as a JSON file."""
        text = json.dumps(self.get_state(), indent=2, allow_nan=False)
        where = str(path)
        try:
            Path(path).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise TransformerError(f"cannot write transformer to {where!r}: {exc}", path=where) from None

    @classmethod
    def load(cls, path: str | Path) -> Transformer:
        """Read a file written by ``save``."""
        where = str(path)
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise TransformerError(f"cannot read transformer from {where!r}: {exc}", path=where) from None
        except ValueError as exc:
            raise TransformerError(f"{where!r} is not a transformer JSON file: {exc}", path=where) from None
        return cls.from_state(state)

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, values: Any) -> Self:
        """Learn the state from a 1-D array-like; nulls are ignored. Returns ``self``."""
        self._fit(values)
        self._fitted = True
        return self

    def fit_transform(self, values: Any) -> np.ndarray:
        """``fit(values)`` then ``transform(values)``."""
        return self.fit(values).transform(values)

    def _not_fitted(self) -> NotFittedError:
        return NotFittedError(
            f"{type(self).__name__} is not fitted: call fit() or load a fitted state first",
            kind=self.kind.value,
        )

    # -- output shape ----------------------------------------------------------------------

    @property
    def output_width(self) -> int:
        """Number of output columns per value."""
        return 1

    def output_names(self, feature_name: str) -> list[str]:
        """Names of the output columns for a feature."""
        return [feature_name]

    # -- hooks and transforms --------------------------------------------------------------

    @abstractmethod
    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise parameters; raise ``TransformerError`` on a bad one."""

    @abstractmethod
    def _fit(self, values: Any) -> None: ...

    @abstractmethod
    def _get_state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Validate and load a fitted state (``_fitted`` is set by the caller)."""

    @abstractmethod
    def transform(self, values: Any) -> np.ndarray:
        """Transform a 1-D array-like with the fitted state."""

    @abstractmethod
    def transform_one(self, value: Any) -> float | int | list[float] | None:
        """Transform one value (the serving path: no array is built)."""

    @abstractmethod
    def inverse_transform(self, values: Any) -> np.ndarray:
        """The raw values that ``transform`` maps to ``values``."""

    @abstractmethod
    def inverse_transform_one(self, value: Any) -> Any:
        """The raw value that ``transform_one`` maps to ``value``."""

    # -- comparison and display ------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transformer):
            return NotImplemented
        return type(self) is type(other) and self.get_state() == other.get_state()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args}){'' if self._fitted else ' [not fitted]'}"


def registry() -> dict[TransformerKind, type[Transformer]]:
    """Every concrete transformer class by kind (a copy)."""
    return dict(_REGISTRY)
