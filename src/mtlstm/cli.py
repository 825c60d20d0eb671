"""Run a stage's ``main`` so user errors print one clear line and exit non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable

from mtlstm.errors import MtlstmError


def run_stage(name: str, main: Callable[[], None]) -> None:
    try:
        main()
    except MtlstmError as exc:
        print(f"error: {name}: {exc}", file=sys.stderr)
        sys.exit(2)
