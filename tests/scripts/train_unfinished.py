"""A run that is never finished: the interpreter's exit has to close it."""

import time

import wandb

wandb.init(project="e2e", name="unfinished")
for step in range(4):
    time.sleep(0.1)
    wandb.log({"step": step})
print("exiting without run.finish()")
