"""Run every benchmark and print one table: python benchmarks/run.py [--quick].

Full mode takes under 5 minutes on 2 cores; ``--quick`` only proves that
every script still runs (CI runs it through ``tox -e bench``), and its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from common import Row, machine, print_table

#: The benchmark modules, in the order they run; each has main(quick) -> rows.
MODULES = [
    "match",
    "hostile",
    "registration",
    "handshake",
    "messages",
    "endpoint",
    "memory",
    "hub_fanout",
    "hub_redis",
    "hub_history",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("only", nargs="*", help="run only these modules")
    args = parser.parse_args()
    rows: list[Row] = []
    for name in args.only or MODULES:
        if not (pathlib.Path(__file__).parent / f"{name}.py").exists():
            print(f"{name}: no such benchmark", file=sys.stderr)
            continue
        start = time.monotonic()
        module = importlib.import_module(name)
        rows += module.main(quick=args.quick)
        print(f"{name}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    print(machine())
    print_table(rows)


if __name__ == "__main__":
    main()
