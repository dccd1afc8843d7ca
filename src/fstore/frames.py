"""Tables in and out of the SDK: pandas, Polars or Arrow.

Where a method takes a table it takes any of the three; where it returns one it returns the
kind it was given (Polars in → Polars out), or the kind named by ``output=``. Polars is
optional (``pip install 'fstore[polars]'``) and is never imported unless a caller uses it.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, Literal

from fstore.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

Output = Literal["pandas", "polars", "arrow"]
OUTPUTS: tuple[Output, ...] = ("pandas", "polars", "arrow")
# Where each kind's table class lives: a library not imported yet made none of the caller's tables.
_CLASSES: dict[Output, tuple[str, str]] = {
    "pandas": ("pandas", "DataFrame"),
    "polars": ("polars", "DataFrame"),
    "arrow": ("pyarrow", "Table"),
}


def kind_of(data: Any) -> Output | None:
    """Which kind of table ``data`` is, or None when it is not a table (no library is
    imported to ask)."""
    for kind, (module, name) in _CLASSES.items():
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(data, getattr(loaded, name)):
            return kind
    return None


def is_polars(data: Any) -> bool:
    """Whether ``data`` is a Polars DataFrame."""
    return kind_of(data) == "polars"


def check_output(output: str | None) -> Output | None:
    """``output`` when it names a kind of table (or is None); else a ``ValidationError``."""
    if output is None:
        return None
    if output not in OUTPUTS:
        raise ValidationError(f"output is one of {', '.join(OUTPUTS)}; got {output!r}")
    return output


def polars() -> Any:
    """The ``polars`` module, or a ``ConfigurationError`` naming the extra that installs it."""
    try:
        return importlib.import_module("polars")
    except ImportError:
        raise ConfigurationError("Polars is not installed: pip install 'fstore[polars]'") from None


def to_output(table: pa.Table, output: Output) -> Any:
    """An Arrow table as the kind of table ``output`` names (a pandas or Polars DataFrame, or
    the table itself)."""
    if output == "pandas":
        return table.to_pandas()
    if output == "polars":
        return polars().from_arrow(table)
    return table
