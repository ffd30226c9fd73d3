"""Fail points (chaos suite): off unless the environment names them; the Nth hit kills the
process; with a marker file only the first process to get there dies."""

import os
import subprocess
import sys

from worker_harness import PYTHON_WORKER_DIR

SCRIPT = "from robustseg_worker import failpoints\nfor i in range(5):\n    failpoints.hit('x.y')\n    print(i, flush=True)\n"


def _run(env):
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(PYTHON_WORKER_DIR), **env})


def test_off_unless_named():
    assert _run({"ROBUSTSEG_FAILPOINTS": "other@1"}).stdout.split() == ["0", "1", "2", "3", "4"]


def test_the_nth_hit_kills_the_process_and_a_marker_makes_it_once(tmp_path):
    killed = _run({"ROBUSTSEG_FAILPOINTS": "a.b@1, x.y@3"})
    assert killed.returncode == -9 and killed.stdout.split() == ["0", "1"]
    env = {"ROBUSTSEG_FAILPOINTS": "x.y@2", "ROBUSTSEG_FAILPOINT_ONCE": str(tmp_path)}
    first, second = _run(env), _run(env)
    assert first.returncode == -9 and (tmp_path / "x.y@2.once").exists()
    assert second.returncode == 0 and len(second.stdout.split()) == 5
