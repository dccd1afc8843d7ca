"""Printing: JSON for machines (``--json``), rich tables for people. Rich loads lazily."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_consoles: dict[bool, Console] = {}


def console(stderr: bool = False) -> Console:
    if stderr not in _consoles:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        # Piped output is not squeezed into 80 columns (rich's fallback width).
        wide = not stream.isatty() and "COLUMNS" not in os.environ
        _consoles[stderr] = Console(
            stderr=stderr, highlight=False, soft_wrap=False, width=160 if wide else None
        )
    return _consoles[stderr]


def reset_consoles() -> None:
    """Forget cached consoles (the streams change between in-process test invocations)."""
    _consoles.clear()


def jsonable(value: Any) -> Any:
    """Plain JSON data: models dumped, datetimes as ISO strings, NaN/inf as null, numpy
    scalars and arrays as Python values."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), indent=2, default=str) + "\n")
    sys.stdout.flush()


def fmt(value: Any) -> str:
    """One table cell."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # all times are UTC: "2025-01-01 10:00:00Z"
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds") + "Z"
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return ", ".join(value) if value else "—"
        return json.dumps(jsonable(list(value)), separators=(",", ":"))
    if isinstance(value, Mapping):
        return json.dumps(jsonable(value), separators=(",", ":"), default=str) if value else "—"
    if hasattr(value, "tolist"):
        return fmt(value.tolist())
    return str(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    count = 0
    for row in rows:
        t.add_row(*(Text(fmt(v)) for v in row))
        count += 1
    if count == 0:
        message(f"(no {title.lower() if title else 'rows'})")
        return
    console().print(t)


def kv_table(data: Mapping[str, Any], title: str | None = None) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    for k, v in data.items():
        t.add_row(Text(str(k)), Text(fmt(v)))
    console().print(t)


def message(text: str) -> None:
    """A line of human output (stdout), printed without markup interpretation."""
    console().print(text, markup=False, highlight=False)


def emit(data: Any, as_json: bool, human: Any = None) -> None:
    """JSON when asked, otherwise call ``human()`` (or print ``human`` if it is a string)."""
    if as_json:
        print_json(data)
    elif callable(human):
        human()
    elif human is not None:
        message(str(human))


def progress_enabled(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()
