"""A user's on_budget_exceeded hook: checkpoints (here: writes down when it ran)."""

import os
import time


def on_budget_exceeded(error):
    with open(os.environ["CHECKPOINT_FILE"], "w") as fh:
        fh.write(f"{time.time_ns()} {error}")
