"""The benchmark suite's Python side (`npm run bench`, ts/bench): in-process measurements the
TypeScript orchestrator interleaves with the same work done through the worker and the CLI.

- :mod:`.machine`: the machine (device, torch, threads, CPU, load average) and memory peaks
  (RSS since a reset, CUDA max allocated);
- :mod:`.driver`: the operations, answered one JSON line per request on stdin/stdout
  (``python -m robustseg_worker.bench serve``): robustseg's PGD and torchattacks' PGD on the
  same model and inputs, method one, method-two scoring (exact and estimated), an evaluation
  under attack, all in-process.

Nothing here is imported by the worker; torchattacks (requirements-bench.txt) is imported lazily
and reported as unavailable when missing.
"""
