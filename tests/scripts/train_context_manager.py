"""W&B training with `with wandb.init() as run:`."""

import os
import time

import wandb

LOG_CALLS = int(os.environ.get("LOG_CALLS", "7"))

with wandb.init(project="e2e", name="with-block") as run:
    for step in range(LOG_CALLS):
        time.sleep(0.1)
        run.log({"step": step})
print("done")
