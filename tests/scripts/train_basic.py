"""Plain W&B training: init, LOG_CALLS logs, one artifact of ARTIFACT_BYTES, finish."""

import os
import time

import wandb

LOG_CALLS = int(os.environ.get("LOG_CALLS", "25"))
ARTIFACT_BYTES = int(os.environ.get("ARTIFACT_BYTES", "12345"))
TRAIN_SECONDS = float(os.environ.get("TRAIN_SECONDS", "2"))

run = wandb.init(project="e2e", name="basic")
for step in range(LOG_CALLS):
    time.sleep(TRAIN_SECONDS / LOG_CALLS)
    wandb.log({"step": step, "loss": 1.0 / (step + 1)})
with open("weights.bin", "wb") as fh:
    fh.write(b"\0" * ARTIFACT_BYTES)
artifact = wandb.Artifact("weights", type="model")
artifact.add_file("weights.bin")
run.log_artifact(artifact)
run.finish()
print(f"done: {LOG_CALLS} steps")
