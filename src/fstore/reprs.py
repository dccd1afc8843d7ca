"""Short ``repr``s for a notebook: a feature vector as a small table, models as a few fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from enum import Enum
from typing import Any

MAX_ROWS = 10  # a vector shows its first rows and says how many it holds
MAX_CELL = 24  # characters of one cell
MAX_ITEMS = 5  # items of a list field in a model's repr


def cell(value: Any) -> str:
    """One value as a table cell: floats to 6 significant digits, long text cut with '…'."""
    text = f"{value:.6g}" if isinstance(value, float) else "null" if value is None else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def vector_table(
    columns: Mapping[str, Sequence[Any]], statuses: Mapping[str, Sequence[Any]], rows: int
) -> str:
    """A feature vector's columns as a text table of its first ``MAX_ROWS`` rows; a cell that
    is not present shows its status (``<missing>``, ``<expired>``, ``<not_fitted>``)."""
    names = list(columns)
    shown = min(rows, MAX_ROWS)
    grid = [names]
    for i in range(shown):
        line = []
        for name in names:
            status = statuses.get(name)
            present = status is None or str(status[i]) == "present"
            line.append(cell(columns[name][i]) if present else f"<{status[i]}>")  # type: ignore[index]
        grid.append(line)
    widths = [max(len(r[j]) for r in grid) for j in range(len(names))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in grid]
    features = len(names) - 1
    entities = f"{rows} entit{'y' if rows == 1 else 'ies'}"
    head = f"FeatureVector: {entities} × {features} feature{'s' * (features != 1)}"
    more = [f"… {rows - shown} more rows"] if rows > shown else []
    return "\n".join([head, *lines, *more])


def short_fields(model: Any, fields: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """A model's ``fields`` for its repr: empty ones left out, enums as their values, long
    lists cut to their first items."""
    for name in fields:
        value = getattr(model, name)
        if value is None or (isinstance(value, (str, list, dict)) and not value):
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, list) and len(value) > MAX_ITEMS:
            value = [*value[:MAX_ITEMS], f"… {len(value) - MAX_ITEMS} more"]
        yield name, value
