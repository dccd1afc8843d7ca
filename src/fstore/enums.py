"""The closed sets of names FStore uses (plain enums, no pydantic: the CLI imports this
without paying for the models)."""

from __future__ import annotations

from enum import StrEnum


class FeatureType(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


class ValueType(StrEnum):
    FLOAT = "float"
    INT = "int"
    STRING = "string"


class TransformerKind(StrEnum):
    STANDARD_SCALER = "standard_scaler"
    MINMAX_SCALER = "minmax_scaler"
    LABEL_ENCODER = "label_encoder"
    ONEHOT_ENCODER = "onehot_encoder"


class BumpKind(StrEnum):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


class ChangeAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ROLLBACK = "rollback"
    FIT = "fit"
