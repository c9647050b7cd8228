"""A small W&B training script. It knows nothing of GenOps.

Run it governed with:  opentelemetry-instrument python examples/train.py
"""

import math
import os
import tempfile
import time

import wandb

EPOCHS = int(os.environ.get("EPOCHS", "20"))
STEP_SECONDS = float(os.environ.get("STEP_SECONDS", "0.1"))

run = wandb.init(project="genops-demo", name="tiny-regression", config={"lr": 0.01})
loss = 1.0
for epoch in range(EPOCHS):
    time.sleep(STEP_SECONDS)  # stands in for a training step
    loss *= 0.9
    wandb.log(
        {"epoch": epoch, "loss": loss, "accuracy": 1 - loss / 2, "lr": 0.01 * math.exp(-epoch / 10)}
    )

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.bin")
    with open(path, "wb") as fh:
        fh.write(os.urandom(64 * 1024))
    artifact = wandb.Artifact("tiny-model", type="model")
    artifact.add_file(path)
    run.log_artifact(artifact)
    run.finish()
print(f"trained {EPOCHS} epochs, final loss {loss:.4f}")
