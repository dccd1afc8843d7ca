"""Online store protocol: the latest value of each feature for each entity.

Writes are last-write-wins by *event* time, enforced by the backend (a write older than
what is stored is ignored), so late or replayed events never overwrite newer values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# A stored value: [event_ts_us, raw value, transformed value, version]. A plain list/tuple,
# not an object, because the read path builds hundreds of them per request.
OnlineRecord = Sequence[Any]


@dataclass(slots=True)
class OnlineWrite:
    """Columnar values of one feature: ``entity_ids[i]`` had ``values[i]`` at ``event_ts[i]``.

    ``event_ts`` are integer microseconds since the Unix epoch (UTC). ``transformed[i]`` is
    the value after the feature's transformer at ``version`` (equal to the raw value when the
    feature has no transformer); one-hot vectors are lists of floats.
    """

    feature_id: str
    entity_ids: Sequence[str]
    event_ts: Sequence[int]
    values: Sequence[Any]
    transformed: Sequence[Any]
    version: str | None
    # The feature's TTL: a store that can expire keys may drop these values after this long
    # (the offline history keeps them; reads then fall back to it).
    ttl_seconds: int | None = None


@runtime_checkable
class OnlineStore(Protocol):
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, entity: str, writes: Sequence[OnlineWrite]) -> int:
        """Store values of features of ``entity``; returns how many were applied.

        Per (feature, entity id) the value with the greatest event time wins, within the
        batch and against what is stored; equal event times: the later write wins.
        """

    async def read(
        self, entity: str, entity_ids: Sequence[str], feature_ids: Sequence[str]
    ) -> list[list[OnlineRecord | None]]:
        """``result[i][j]`` is the record of ``feature_ids[j]`` for ``entity_ids[i]`` or None."""

    async def delete_feature(self, entity: str, feature_id: str) -> None:
        """Drop every value of a feature (and its cached metadata and transformers)."""

    async def put_feature_meta(self, feature_id: str, doc: dict[str, Any]) -> None: ...

    async def get_feature_meta(self, feature_id: str) -> dict[str, Any] | None: ...

    async def put_transformer(self, feature_id: str, version: str, state: dict[str, Any]) -> None: ...

    async def get_transformer(self, feature_id: str, version: str) -> dict[str, Any] | None: ...

    async def ping(self) -> dict[str, Any]: ...
