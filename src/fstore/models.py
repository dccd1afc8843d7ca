"""Domain models (pydantic v2): what a feature store knows about.

The field names follow the specification (`entity_id`, `feature_group_id` are accepted as
aliases of `entity` and `group`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

import pydantic
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from fstore.enums import BumpKind, ChangeAction, FeatureType, TransformerKind, ValueType
from fstore.errors import invalid_input
from fstore.reprs import short_fields
from fstore.spark.pipeline_spec import SqlPipeline
from fstore.streaming.spec import AggregationSpec

M = TypeVar("M", bound=BaseModel)

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_name(value: str, what: str = "name") -> str:
    """Names are identifiers: they become column names, Redis keys and CLI arguments."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):  # "$" would allow a "\n"
        raise ValueError(
            f"{what} {value!r} is not a valid identifier "
            "(letters, digits and '_', not starting with a digit, at most 128 characters)"
        )
    return value


def parse(model: type[M], data: Any) -> M:
    """``model.model_validate(data)`` for input from a caller: a dict that does not fit (or
    anything else) is an FStore ``ValidationError``, never a raw pydantic one."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise invalid_input(exc.errors()) from None


NUMERICAL_TRANSFORMERS = {TransformerKind.STANDARD_SCALER, TransformerKind.MINMAX_SCALER}
CATEGORICAL_TRANSFORMERS = {TransformerKind.LABEL_ENCODER, TransformerKind.ONEHOT_ENCODER}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)
    # The fields ``repr`` shows (all when empty): one short line in a notebook.
    repr_fields: ClassVar[tuple[str, ...]] = ()

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        if not self.repr_fields:
            return super().__repr_args__()
        return short_fields(self, self.repr_fields)


class Entity(_Model):
    """What features describe (a customer, a transaction); `join_key` names its id column."""

    repr_fields = ("name", "join_key", "value_type")

    name: str
    join_key: str = ""
    value_type: ValueType = ValueType.STRING
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "entity name")

    @model_validator(mode="after")
    def _default_join_key(self) -> Self:
        if not self.join_key:
            object.__setattr__(self, "join_key", f"{self.name}_id")
        check_name(self.join_key, "join key")
        if self.value_type not in (ValueType.STRING, ValueType.INT):
            raise ValueError("entity value_type must be 'string' or 'int'")
        return self


class TransformerSpec(_Model):
    """Which transformer a feature uses and with which parameters (not its fitted state)."""

    repr_fields = ("kind", "params")

    kind: TransformerKind
    params: dict[str, Any] = Field(default_factory=dict)


class Feature(_Model):
    """A registered feature: its name, the entity it describes, its type and the rules its
    values follow (``nullable``, ``ttl_seconds``), with its current version."""

    repr_fields = ("name", "entity", "type", "dtype", "group", "current_version")
    name: str
    id: str = ""
    description: str = ""
    type: FeatureType = FeatureType.NUMERICAL
    dtype: ValueType | None = None
    entity: str = Field(validation_alias=AliasChoices("entity", "entity_id"))
    group: str | None = Field(default=None, validation_alias=AliasChoices("group", "feature_group_id"))
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    owner: str = ""
    nullable: bool = False
    ttl_seconds: int | None = Field(default=None, gt=0)
    dependencies: list[str] = Field(default_factory=list)
    current_version: str | None = None
    aggregation: AggregationSpec | None = Field(
        default=None, description="Computed from a topic of raw events (docs/streaming-aggregations.md)."
    )
    pipeline: SqlPipeline | None = Field(
        default=None, description="Computed by a Spark SQL feature pipeline (docs/spark.md)."
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "feature name")

    @field_validator("entity")
    @classmethod
    def _entity(cls, v: str) -> str:
        return check_name(v, "entity name")

    @field_validator("group")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v, "group name")

    @field_validator("dependencies")
    @classmethod
    def _deps(cls, v: list[str]) -> list[str]:
        return sorted({check_name(d, "dependency") for d in v})

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if not self.id:
            object.__setattr__(self, "id", self.name)
        check_name(self.id, "feature id")
        if self.dtype is None:
            default = ValueType.FLOAT if self.type is FeatureType.NUMERICAL else ValueType.STRING
            object.__setattr__(self, "dtype", default)
        if self.type is FeatureType.NUMERICAL and self.dtype not in (ValueType.FLOAT, ValueType.INT):
            raise ValueError("a numerical feature has dtype 'float' or 'int'")
        if self.type is FeatureType.CATEGORICAL and self.dtype is not ValueType.STRING:
            raise ValueError("a categorical feature has dtype 'string'")
        if self.id in self.dependencies:
            raise ValueError(f"feature {self.id!r} cannot depend on itself")
        if self.aggregation is not None and self.pipeline is not None:
            raise ValueError("a feature is computed by an aggregation or by a pipeline, not both")
        if self.aggregation is not None:
            self.aggregation.check_output(self.type is FeatureType.NUMERICAL, str(self.dtype))
        return self

    def validate_definition(self) -> None:
        """The specification's `validate()`; construction already validates."""
        type(self).model_validate(self.model_dump())

    def to_dict(self) -> dict[str, Any]:
        """The feature as plain JSON types (the specification's ``to_dict()``)."""
        return self.model_dump(mode="json")


class FeatureGroup(_Model):
    """A named set of features of one entity (a Feast feature view, a Hopsworks feature group)."""

    repr_fields = ("name", "entity", "features")
    name: str
    id: str = ""
    description: str = ""
    entity: str | None = Field(default=None, validation_alias=AliasChoices("entity", "entity_id"))
    features: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("features", "feature_ids")
    )
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    owner: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "group name")

    @field_validator("features")
    @classmethod
    def _features(cls, v: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for name in v:
            seen[check_name(name, "feature name")] = None
        return list(seen)

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if not self.id:
            object.__setattr__(self, "id", self.name)
        return self

    def add_feature(self, feature_id: str) -> None:
        """Add a feature's name to this (unsaved) group; ``FeatureStore.add_to_group`` saves."""
        check_name(feature_id, "feature name")
        if feature_id not in self.features:
            self.features = [*self.features, feature_id]

    def remove_feature(self, feature_id: str) -> None:
        """Take a feature's name out of this (unsaved) group."""
        self.features = [f for f in self.features if f != feature_id]

    def get_features(self) -> list[str]:
        """The names of the group's features."""
        return list(self.features)


class FeatureVersion(_Model):
    """One immutable version of a feature: its definition, transformer config and fitted state."""

    repr_fields = ("feature_id", "version", "transformer", "bump", "reason")

    feature_id: str
    version: str
    definition: dict[str, Any] = Field(default_factory=dict)
    transformer: TransformerSpec | None = None
    transformer_state: dict[str, Any] | None = None
    dependencies: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    bump: BumpKind | None = None
    reason: str = ""
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def id(self) -> str:
        """``feature@version``."""
        return f"{self.feature_id}@{self.version}"

    @property
    def transformer_config(self) -> dict[str, Any] | None:
        """The specification's name for the transformer configuration."""
        return None if self.transformer is None else self.transformer.model_dump(mode="json")


class ValueStatus(StrEnum):
    """What a served cell holds (like Feast's field statuses).

    * ``present``: the value (and its transformed value);
    * ``missing``: no value stored for the entity;
    * ``expired``: the newest value is older than the feature's ``ttl_seconds`` (by event
      time): served as missing, as training sets treat it;
    * ``not_fitted``: the raw value is stored but the feature's transformer is not fitted, so
      there is no transformed value to serve.
    """

    PRESENT = "present"
    MISSING = "missing"
    EXPIRED = "expired"
    NOT_FITTED = "not_fitted"


class FeatureValue(BaseModel):
    """One value of one feature for one entity at one event time.

    As served (``get_feature_value``), ``status`` says what it holds: ``expired`` comes with
    ``value`` and ``transformed`` None (the newest value's event time is kept);
    ``not_fitted`` with the raw ``value`` and ``transformed`` None."""

    model_config = ConfigDict(extra="forbid")

    entity_id: str
    value: Any
    event_timestamp: datetime
    transformed: Any = None
    version: str | None = None
    ingested_at: datetime | None = None
    feature_id: str | None = None
    status: ValueStatus = Field(
        default=ValueStatus.PRESENT,
        description=(
            "'present'; 'expired' (older than the feature's ttl_seconds by event time: value and "
            "transformed are null); 'not_fitted' (the transformer is not fitted: transformed is null)"
        ),
    )


class ChangeRecord(_Model):
    id: str
    object_type: str
    object_id: str
    action: ChangeAction
    actor: str = ""
    at: datetime = Field(default_factory=utcnow)
    version: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class CategoryCount(BaseModel):
    value: str
    count: int


class FeatureStatistics(BaseModel):
    feature_id: str
    count: int
    nulls: int
    distinct: int | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)
    top_categories: list[CategoryCount] = Field(default_factory=list)
    first_event: datetime | None = None
    last_event: datetime | None = None
