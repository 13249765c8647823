"""What the benchmark scripts share: timing helpers and one table format."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from collections.abc import Callable, Iterable

__all__ = ["Row", "machine", "median_ns", "print_table", "run_main"]


@dataclasses.dataclass
class Row:
    """One figure: what was measured, for which subject, and its ratio to a baseline.

    ``ratio`` is ``baseline / value`` for times (higher is better for us) or
    ``value / baseline`` for rates; each script says which in ``note``.
    """

    benchmark: str
    case: str
    subject: str
    value: float
    unit: str
    ratio: float | None = None
    note: str = ""


def median_ns(func: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the time per call, in nanoseconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            func()
        runs.append((time.perf_counter_ns() - start) / number)
    return statistics.median(runs)


def machine() -> str:
    """A one-line description of the machine and interpreter."""
    import os

    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"
    )


def print_table(rows: Iterable[Row]) -> None:
    """Print rows as an aligned table."""
    header = ("benchmark", "case", "subject", "value", "ratio", "note")
    lines = [header]
    for row in rows:
        value = (
            f"{row.value:,.3f} {row.unit}"
            if row.value < 100
            else f"{row.value:,.0f} {row.unit}"
        )
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append((row.benchmark, row.case, row.subject, value, ratio, row.note))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(width) for cell, width in zip(line, widths, strict=True)
            ).rstrip()
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))


def run_main(main: Callable[[bool], list[Row]], doc: str | None) -> None:
    """Run a benchmark module's ``main()`` from the command line; print its table."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true", help="run in a few seconds")
    args = parser.parse_args()
    print(machine())
    print_table(main(args.quick))
