"""A run left open while the script ends in the way EXIT_HOW says.

sys_exit: sys.exit(3); builtin_exit: exit(1) (site's builtin); raise: an
uncaught exception; wait: sleep until interrupted (the test sends SIGINT).
Prints "ready <run id>" once the run has logged LOG_CALLS times.
"""

import os
import sys
import time

import wandb

HOW = os.environ.get("EXIT_HOW", "sys_exit")
LOG_CALLS = int(os.environ.get("LOG_CALLS", "4"))

run = wandb.init(project="e2e", name=f"exit-{HOW}")
for step in range(LOG_CALLS):
    run.log({"step": step})
print(f"ready {run.id}", flush=True)
if HOW == "sys_exit":
    sys.exit(3)
if HOW == "builtin_exit":
    exit(1)  # noqa: PLR1722 - the builtin on purpose
if HOW == "raise":
    raise RuntimeError("diverged")
while True:
    time.sleep(0.1)
