"""One timed training process for bench/log_overhead.py (run bare or under
``opentelemetry-instrument``): ``wandb.init`` (WANDB_MODE from the environment), N
``run.log({5 floats})`` calls timed as a block, ``run.finish()``, then the same calls
on a ``mode="disabled"`` run. Prints one JSON line of seconds (and the disabled
run's nanoseconds per call).

    python bench/_log_child.py N DISABLED_N
"""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()
import wandb  # noqa: E402

n, disabled_n = int(sys.argv[1]), int(sys.argv[2])
run = wandb.init(project="bench-log", name="overhead")
ready = time.perf_counter()
loop_start = time.perf_counter()
for i in range(n):
    run.log({"loss": 1.0 / (i + 1), "acc": 0.5, "lr": 3e-4, "grad": 0.01 * i, "t": 1.5})
loop_s = time.perf_counter() - loop_start
finish_start = time.perf_counter()
run.finish()
finish_s = time.perf_counter() - finish_start
off = wandb.init(project="bench-log", name="disabled", mode="disabled")
off_start = time.perf_counter()
for i in range(disabled_n):
    off.log({"loss": 1.0 / (i + 1), "acc": 0.5, "lr": 3e-4, "grad": 0.01 * i, "t": 1.5})
off_s = time.perf_counter() - off_start
off.finish()
print(
    json.dumps(
        {
            "import_and_init_s": ready - started,
            "log_loop_s": loop_s,
            "finish_s": finish_s,
            "disabled_ns_per_call": 1e9 * off_s / disabled_n,
            "log_wrapped": "Wrapper" in type(vars(type(run)).get("log")).__name__,
        }
    ),
    flush=True,
)
