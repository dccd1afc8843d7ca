"""What a write did: the return values of ``ingest`` and ``store_feature_values``.

They keep the types they always had — ``ingest`` a dict of values received per feature,
``store_feature_values`` an int — and carry per-feature detail: ``stored`` (written: new
identities or corrections), ``unchanged`` (already stored with that value: not written) and
``duplicates`` (superseded by a later row of the same call). For each feature
``received == stored + unchanged + duplicates``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self


class IngestResult(dict[str, int]):
    """Values received per feature (a dict, as before), with ``stored``, ``unchanged`` and
    ``duplicates`` per feature."""

    stored: dict[str, int]
    unchanged: dict[str, int]
    duplicates: dict[str, int]

    @classmethod
    def of(
        cls,
        received: Mapping[str, int],
        stored: Mapping[str, int],
        unchanged: Mapping[str, int],
        duplicates: Mapping[str, int],
    ) -> Self:
        out = cls(received)
        out.stored = {f: stored.get(f, 0) for f in received}
        out.unchanged = {f: unchanged.get(f, 0) for f in received}
        out.duplicates = {f: duplicates.get(f, 0) for f in received}
        return out

    def merge(self, other: IngestResult) -> None:
        """Add another result's counts (a file ingested chunk by chunk)."""
        for name, n in other.items():
            self[name] = self.get(name, 0) + n
            for mine, theirs in (
                (self.stored, other.stored),
                (self.unchanged, other.unchanged),
                (self.duplicates, other.duplicates),
            ):
                mine[name] = mine.get(name, 0) + theirs.get(name, 0)

    @classmethod
    def empty(cls) -> Self:
        return cls.of({}, {}, {}, {})

    @classmethod
    def of_results(cls, results: Mapping[str, StoreResult]) -> Self:
        """Per-feature ``StoreResult``s as one result."""
        return cls.of(
            {f: int(r) for f, r in results.items()},
            {f: r.stored for f, r in results.items()},
            {f: r.unchanged for f, r in results.items()},
            {f: r.duplicates for f, r in results.items()},
        )


class StoreResult(int):
    """Values received (an int, as before), with how many were ``stored``, ``unchanged``
    and ``duplicates``."""

    stored: int
    unchanged: int
    duplicates: int

    def __new__(cls, received: int, stored: int, unchanged: int, duplicates: int = 0) -> Self:
        out = super().__new__(cls, received)
        out.stored, out.unchanged, out.duplicates = stored, unchanged, duplicates
        return out

    def __reduce__(self) -> tuple[type, tuple[int, int, int, int]]:
        return (type(self), (int(self), self.stored, self.unchanged, self.duplicates))
