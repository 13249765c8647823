"""``python -m websockets_routes``: see :mod:`websockets_routes.cli`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m websockets_routes"))
