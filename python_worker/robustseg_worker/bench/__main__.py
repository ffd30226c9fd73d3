"""python -m robustseg_worker.bench serve: the benchmark driver (see driver.py)."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in the worker, before torch loads


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustseg_worker.bench", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["serve"], help="serve: answer JSON-line requests on stdin (ts/bench)")
    p.parse_args(argv)
    # stdout carries the answers only: libraries that print go to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from .driver import serve

    return serve(sys.stdin, out)


if __name__ == "__main__":
    sys.exit(main())
