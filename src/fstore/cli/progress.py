"""Progress display for long commands, shared by every command that has one (ingest,
training-set, fit, materialize, the backfills, the demo).

Shown on stderr only when it is a terminal and ``--json`` is not given, so piped output and
machine-readable output stay clean. With a total, a bar that ``advance`` moves; without one,
a spinner with the elapsed time (the step's length is not known up front).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fstore.cli.output import console, progress_enabled

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class Step:
    """What a command reports while it works; does nothing when progress is not shown."""

    def __init__(self, bar: Progress | None = None, task: TaskID | None = None) -> None:
        self._bar = bar
        self._task = task

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, amount)

    def describe(self, text: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=text)


@contextmanager
def progress(description: str, as_json: bool, total: int | None = None) -> Iterator[Step]:
    """A progress display for the duration of the block (removed when it ends)."""
    if not progress_enabled(as_json):
        yield Step()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        yield Step(bar, bar.add_task(description, total=total))
