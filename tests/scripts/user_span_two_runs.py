"""Two W&B runs inside one span of the user's own tracing.

USER_PROVIDER=console: the script sets its own TracerProvider (console exporter)
in code first; AUTO_INSTRUMENT=1: it then calls genops' auto_instrument().
Prints each run's id, then "user span done".
"""

import os
import time

from opentelemetry import trace

if os.environ.get("USER_PROVIDER") == "console":
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
if os.environ.get("AUTO_INSTRUMENT") == "1":
    from genops.providers.wandb import auto_instrument

    auto_instrument()

import wandb  # noqa: E402

tracer = trace.get_tracer("user.training")
with tracer.start_as_current_span("job"):
    for name, steps in (("run-a", 3), ("run-b", 7)):
        run = wandb.init(project="e2e", name=name, reinit="finish_previous")
        for step in range(steps):
            time.sleep(0.05)
            run.log({"step": step})
        print(f"run {name} {run.id}", flush=True)
        run.finish()
print("user span done", flush=True)
