"""Two runs, one after the other, in one process."""

import time

import wandb

for name, steps in (("first", 3), ("second", 6)):
    run = wandb.init(project="e2e", name=name, reinit="finish_previous")
    for step in range(steps):
        time.sleep(0.1)
        run.log({"step": step})
    run.finish()
print("two runs done")
