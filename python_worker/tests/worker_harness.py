"""A real worker process (python -m robustseg_worker) for the tests that need one."""

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

PYTHON_WORKER_DIR = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """`python -m robustseg_worker` in a subprocess; stdout is a pipe (the readiness line),
    stderr goes to a file so a chatty worker never blocks on a full pipe."""

    def __init__(self, directory: Path, *args: str, listen: str = "127.0.0.1:0", env: dict | None = None,
                 wait_ready: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.workspace = directory / "workspace"
        self.stderr_path = directory / f"worker-{time.monotonic_ns()}.stderr"
        command = [sys.executable, "-m", "robustseg_worker", "--listen", listen, "--workspace", str(self.workspace), *args]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            command, cwd=directory, stdout=subprocess.PIPE, stderr=self._stderr,
            env={**os.environ, "PYTHONPATH": str(PYTHON_WORKER_DIR), **(env or {})},
        )
        self.ready: dict | None = None
        self.address: str | None = None
        if wait_ready:
            self.ready = json.loads(self.read_stdout_line(timeout=90))
            self.address = self.ready["address"]

    def read_stdout_line(self, timeout: float) -> str:
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            self.kill()
            raise AssertionError(f"no readiness line within {timeout}s; stderr:\n{self.stderr()}")
        line = self.proc.stdout.readline().decode()
        if not line:
            raise AssertionError(f"worker exited ({self.proc.wait()}) before it was ready; stderr:\n{self.stderr()}")
        return line

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.proc.stdout.close()
        self._stderr.close()
