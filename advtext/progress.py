"""Progress bars (count, rate, ETA and live figures such as the loss) on stderr, via rich."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from advtext.distributed import world

stderr = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "-/s", style="progress.data.speed")


class Bar:
    """One progress task: ``advance(n, **figures)`` moves the count and shows the latest figures."""

    def __init__(self, progress: Progress, task: int):
        self._progress, self._task = progress, task

    def advance(self, n: int = 1, **figures: float | int | str) -> None:
        text = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        self._progress.update(self._task, advance=n, **({"figures": text} if figures else {}))


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Bar]:
    """A bar with count, rate, elapsed time, ETA and free-form figures, drawn on stderr."""
    columns = [TextColumn("{task.description}"), BarColumn(bar_width=30), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[figures]}")]
    with Progress(*columns, console=stderr, disable=not world().main) as progress:  # under torchrun: rank 0's
        yield Bar(progress, progress.add_task(description, total=total, figures=""))
