"""One timed training process for bench/log_overhead.py (run bare or under
``opentelemetry-instrument``): ``wandb.init`` (WANDB_MODE from the environment), N
``run.log({5 floats})`` calls timed as a block, ``run.finish()``, then the same calls
on a ``mode="disabled"`` run. Prints one JSON line of seconds (and the disabled
run's nanoseconds per call), and the CPU seconds the process's threads spent during the
timed block (wall time on a shared machine varies with its load; CPU time much less).

    python bench/_log_child.py N DISABLED_N
"""

from __future__ import annotations

import json
import os
import sys
import time

started = time.perf_counter()
import wandb  # noqa: E402


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    spent = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        spent[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return spent


n, disabled_n = int(sys.argv[1]), int(sys.argv[2])
run = wandb.init(project="bench-log", name="overhead")
ready = time.perf_counter()
cpu_before, main_before = thread_cpu_s(), time.thread_time()
loop_start = time.perf_counter()
for i in range(n):
    run.log({"loss": 1.0 / (i + 1), "acc": 0.5, "lr": 3e-4, "grad": 0.01 * i, "t": 1.5})
loop_s = time.perf_counter() - loop_start
main_cpu_s = time.thread_time() - main_before
cpu_after = thread_cpu_s()
loop_cpu_s = sum(s - cpu_before.get(tid, 0.0) for tid, s in cpu_after.items())
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
            "loop_main_thread_cpu_s": main_cpu_s,
            "loop_process_cpu_s": loop_cpu_s,
            "finish_s": finish_s,
            "disabled_ns_per_call": 1e9 * off_s / disabled_n,
            "log_wrapped": "Wrapper" in type(vars(type(run)).get("log")).__name__,
        }
    ),
    flush=True,
)
