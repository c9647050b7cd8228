"""A training script that crashes mid-run (without finishing the run)."""

import time

import wandb

run = wandb.init(project="e2e", name="crashes")
for step in range(5):
    time.sleep(0.1)
    wandb.log({"step": step})
raise RuntimeError("diverged at step 5")
