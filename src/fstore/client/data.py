"""The data half of the client: writing and reading values, feature vectors, training sets,
transforms, statistics, health, and logging in.

Names and arguments follow ``FeatureStore`` (``store.py``); pandas and pyarrow load only in
the methods that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fstore.arguments import feature_names, listed
from fstore.client.http import Call, Exchange, Steps, error_for, operation, path
from fstore.errors import AuthenticationError, NotFoundError, ValidationError
from fstore.frames import Output, check_output, is_polars, kind_of, to_output
from fstore.models import FeatureStatistics, FeatureValue
from fstore.write_result import StoreResult

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from fstore.serving import FeatureVector

PARQUET = "application/vnd.apache.parquet"


def _store_result(body: Mapping[str, Any]) -> StoreResult:
    stored, unchanged, duplicates = (int(body.get(k, 0)) for k in ("stored", "unchanged", "duplicates"))
    return StoreResult(stored + unchanged + duplicates, stored, unchanged, duplicates)


def value_rows(batch: Any, join_key: str | None, feature: str) -> list[dict[str, Any]]:
    """A batch of one feature's values as the API's rows ``{entity_id, value, event_timestamp}``.

    Tables (pandas, Polars or Arrow) name the id column ``entity_id`` or the entity's join key and the
    value column ``value`` or the feature's name; rows are ``FeatureValue``s or mappings.
    The server validates the values."""
    import pandas as pd
    import pyarrow as pa

    from fstore.values import _rows_to_columns, table_of  # the SDK's reading of rows and tables

    if isinstance(batch, pd.DataFrame) or is_polars(batch):
        batch = table_of(batch)
    if isinstance(batch, pa.Table):
        names = batch.column_names
        id_col = next((c for c in ("entity_id", join_key) if c and c in names), None)
        value_col = next((c for c in ("value", feature) if c in names), None)
        if id_col is None:
            raise ValidationError("the batch has no entity id column ('entity_id' or the join key)")
        if value_col is None:
            raise ValidationError(f"the batch has no value column ('value' or {feature!r})")
        columns = {"entity_id": id_col, "value": value_col, "event_timestamp": "event_timestamp"}
        picked = {k: batch.column(c).to_pylist() for k, c in columns.items() if c in names}
        return [dict(zip(picked, row, strict=True)) for row in zip(*picked.values(), strict=True)]
    if isinstance(batch, (FeatureValue, Mapping)):
        batch = [batch]
    if isinstance(batch, (str, bytes)) or not isinstance(batch, Iterable):
        raise ValidationError("a batch is a DataFrame, an Arrow table, or a list of values")
    ids, times, values = _rows_to_columns(list(batch))
    return [
        {"entity_id": i, "value": v, "event_timestamp": t} for i, t, v in zip(ids, times, values, strict=True)
    ]


def parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


class DataOperations(Exchange):
    # -- writing values -------------------------------------------------------------------------

    @operation
    def store_feature_values(self, feature_id: str, batch: Any) -> Steps[StoreResult]:
        """Store a batch of one feature's values (nothing is stored if a row is bad); returns
        the number of values sent, an int with ``stored``, ``unchanged`` and ``duplicates``
        (see ``fstore.write_result``)."""
        join_key = None
        if kind_of(batch) is not None and "entity_id" not in _column_names(batch):
            feature = yield from self._json("GET", path("features", feature_id))
            entity = yield from self._json("GET", path("entities", feature["entity"]))
            join_key = entity["join_key"]
        body = {"values": value_rows(batch, join_key, feature_id)}
        if not body["values"]:
            return StoreResult(0, 0, 0)
        stored = yield from self._json("POST", path("features", feature_id, "values", "batch"), json=body)
        return _store_result(stored)

    @operation
    def store_feature_value(
        self, feature_id: str, entity_id: str | int, value: Any, event_timestamp: datetime | str | None = None
    ) -> Steps[StoreResult]:
        """Store one value of a feature for an entity (at ``event_timestamp``, default now)."""
        body = {"entity_id": entity_id, "value": value, "event_timestamp": event_timestamp}
        stored = yield from self._json("POST", path("features", feature_id, "values"), json=body)
        return _store_result(stored)

    # -- reading values -------------------------------------------------------------------------

    @operation
    def get_feature_value(self, feature_id: str, entity_id: str | int) -> Steps[FeatureValue | None]:
        """The latest value of a feature for an entity; None when it has none."""
        try:
            data = yield from self._json("GET", path("features", feature_id, "values", entity_id))
        except NotFoundError as missing:
            if "entity_id" not in missing.details:  # no such feature (or entity), not "no value"
                raise
            return None
        return FeatureValue.model_validate(data)

    @operation
    def get_feature_vector(
        self, features: Sequence[str], entities: Sequence[str | int], *, transformed: bool = True
    ) -> Steps[FeatureVector]:
        """Latest values of many features (all of one entity) for many entity ids."""
        from fstore.serving import FeatureVector

        body = {
            "features": feature_names(features),
            "entities": listed(entities, "entity ids"),
            "transformed": transformed,
        }
        data: dict[str, Any] = yield from self._json("POST", path("online", "features"), json=body)
        return FeatureVector.from_json(data)

    @operation
    def get_feature_history(
        self,
        feature_id: str,
        entity_id: str | int | None = None,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        limit: int | None = None,
        include_superseded: bool = False,
    ) -> Steps[pa.Table]:
        """Current values per (entity, event time); with ``include_superseded`` every stored
        row (an identity's superseded rows come before its current one)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        params = {"entity_id": entity_id, "start": start, "end": end, "limit": limit, "format": "parquet"}
        if include_superseded:
            params["include_superseded"] = "true"
        response = yield from self._exchange(
            Call("GET", path("features", feature_id, "values"), params=params)
        )
        return pq.read_table(pa.BufferReader(response.content))  # Parquet: the exact column types

    @operation
    def get_historical_features(
        self,
        entity_rows: Any,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        transformed: bool = True,
        output: Output | None = None,
    ) -> Steps[Any]:
        """A point-in-time-correct training set: the same kind of table as ``entity_rows``
        (pandas, Polars or Arrow; a list of rows gives Arrow), or the kind ``output`` names.
        Tables travel as Parquet (exact types), lists of rows as JSON."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from fstore.values import table_of

        features = feature_names(features)
        check_output(output)
        kind = kind_of(entity_rows)
        if kind is not None:
            table = table_of(entity_rows)
            form = {
                "features": list(features),
                "timestamp_column": timestamp_column,
                "transformed": "true" if transformed else "false",
                "format": "parquet",
            }
            files = {"file": ("entity_rows.parquet", parquet_bytes(table), PARQUET)}
            call = Call("POST", path("training-sets", "upload"), form=form, files=files)
            response = yield from self._exchange(call)
        elif isinstance(entity_rows, list):
            body = {
                "entity_rows": entity_rows,
                "features": list(features),
                "timestamp_column": timestamp_column,
                "transformed": transformed,
                "format": "parquet",
            }
            response = yield from self._exchange(Call("POST", path("training-sets"), json=body))
        else:
            raise ValidationError(
                "entity rows must be a pandas or Polars DataFrame, an Arrow table or a list of dicts"
            )
        return to_output(pq.read_table(pa.BufferReader(response.content)), output or kind or "arrow")

    # -- transformers and statistics ------------------------------------------------------------

    @operation
    def transform(self, name: str, values: Any, version: str | None = None) -> Steps[np.ndarray]:
        """Transform raw values with the feature's current (or given) fitted transformer."""
        import numpy as np

        body = {"values": list(values), "version": version}
        out = (yield from self._json("POST", path("features", name, "transform"), json=body))["values"]
        array = np.asarray(out)
        if array.dtype == object and array.ndim == 1 and not any(isinstance(v, list) for v in out):
            array = np.asarray(out, dtype=float)  # nulls as NaN, as the transformers return them
        return array

    @operation
    def statistics(
        self, feature_id: str, *, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> Steps[FeatureStatistics]:
        """Statistics of a feature's stored values, optionally of those in [start, end]."""
        params = {"start": start, "end": end}
        data = yield from self._json("GET", path("features", feature_id, "statistics"), params=params)
        return FeatureStatistics.model_validate(data)

    @operation
    def materialize(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        features: Sequence[str] | None = None,
    ) -> Steps[dict[str, int]]:
        """Copy each entity's latest offline value in [start, end] online, on the server;
        returns how many values each feature sent."""
        body = {"start": start, "end": end, "features": None if features is None else feature_names(features)}
        data = yield from self._json(
            "POST", path("materialize"), json={k: v for k, v in body.items() if v is not None}
        )
        return {name: int(n) for name, n in data["features"].items()}

    # -- the server -----------------------------------------------------------------------------

    @operation
    def health(self) -> Steps[dict[str, Any]]:
        """The server's stores: reachable or not, version and latency (``FeatureStore.health``)."""
        response = yield from self._exchange(Call("GET", "/health/ready", answers=frozenset({503})))
        try:
            stores: dict[str, Any] = response.json()["stores"]
        except (ValueError, KeyError, TypeError):  # a 503 from something else than FStore
            raise error_for(response, self.url) from None
        return stores

    @operation
    def authenticate(self, username: str, password: str) -> Steps[None]:
        """Log in with a user name and password; the client keeps the access and refresh tokens
        and refreshes them when the server says the access token expired."""
        form = {"username": username, "password": password}
        tokens = yield from self._json("POST", path("auth", "token"), form=form, authenticated=False)
        self._session.update(tokens)

    @operation
    def refresh(self) -> Steps[None]:
        """New tokens for the refresh token a login returned."""
        if not self._session.refresh_token:
            raise AuthenticationError("no refresh token: log in first", reason="missing")
        yield from self._refresh_steps()

    @operation
    def whoami(self) -> Steps[dict[str, Any]]:
        """Who the credentials belong to: ``{"name", "role", "kind"}``."""
        data: dict[str, Any] = yield from self._json("GET", path("auth", "me"))
        return data


def _column_names(table: Any) -> list[str]:
    names = table.column_names if hasattr(table, "column_names") else table.columns
    return [str(n) for n in names]
