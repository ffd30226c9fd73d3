"""Fail points for the chaos suite (docs/reliability.md): named places where a process
kills itself with SIGKILL when the environment asks, to test what a crash at exactly that moment
leaves behind (half-written artifacts, checkpoints). Off, and free, unless set:

    ROBUSTSEG_FAILPOINTS="store.write.sealed@2,train.step@5"   name@N: die at the Nth hit
    ROBUSTSEG_FAILPOINT_ONCE=DIR    each point fires once over all processes: the first to get
                                    there creates DIR/<name>@<N>.once, and only it dies

The control plane (ts/chaos/failpoints.ts) reads the same variable; the names do not overlap."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV, ONCE_ENV = "ROBUSTSEG_FAILPOINTS", "ROBUSTSEG_FAILPOINT_ONCE"


def _parse(text: str) -> dict[str, int]:
    points = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = item.partition("@")
        points[name] = int(count) if count.isdigit() and int(count) > 0 else 1
    return points


_POINTS = _parse(os.environ.get(ENV, ""))
_hits: Counter = Counter()


def _claim(name: str) -> bool:
    directory = os.environ.get(ONCE_ENV)
    if not directory:
        return True
    try:
        marker = os.path.join(directory, f"{name}@{_POINTS[name]}.once")
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def hit(name: str) -> None:
    """Die here if the environment names this point and this is its Nth hit."""
    if not _POINTS or name not in _POINTS:
        return
    _hits[name] += 1
    if _hits[name] == _POINTS[name] and _claim(name):
        os.kill(os.getpid(), signal.SIGKILL)
