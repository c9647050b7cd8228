"""A long training loop: logs every 50 ms for up to MAX_SECONDS."""

import os
import time

import wandb

MAX_SECONDS = float(os.environ.get("MAX_SECONDS", "60"))

run = wandb.init(project="e2e", name="long")
started = time.monotonic()
step = 0
while time.monotonic() - started < MAX_SECONDS:
    time.sleep(0.05)
    wandb.log({"step": step})
    step += 1
run.finish()
print("finished without being stopped")
