"""Entry point: python -m robustseg_worker --listen 127.0.0.1:0 --workspace DIR."""

import os

# Set before torch (and its OpenMP runtime) loads: idle OpenMP threads sleep instead of
# spinning, which keeps training fast when the cores are shared (tests, several workers);
# spinning threads that get preempted made steps up to 10x slower on a busy 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from robustseg_worker.cli import main  # noqa: E402

raise SystemExit(main())
