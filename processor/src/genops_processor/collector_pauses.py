"""Garbage-collector pauses kept out of budget decisions.

CPython's cyclic collector stops every thread while it runs. A full (oldest-generation)
collection walks every object the process keeps: the imported libraries and everything
the processor builds on start. Measured on a running processor (empty ledger, 32
``CheckBudget`` callers, ``/work/prof/proc_jobtime.py`` with ``gc.callbacks``): ten full
collections in ~20 s, 77 ms each at the median and 139 ms at worst, every decision in
flight held up by each.

So once the processor has started, what exists then is collected and frozen
(:func:`gc.freeze`: kept out of later collections; it lives as long as the process
anyway), and collections run after more allocations than CPython's default of 700.
Under the same load afterwards: no full collection past the one at start; young
collections 3-5 ms, one middle collection 29 ms (a threshold of 50,000 gave 17-19 ms
young collections instead).
Only the long-running processor does this (``genops-processor``), not a library caller
nor a test process that starts processors in-process.
"""

from __future__ import annotations

import gc

# allocations (less deallocations) of container objects before a young collection; then
# young collections before a middle one, middle ones before a full one (CPython: 700, 10, 10)
THRESHOLDS = (10_000, 10, 10)


def keep_pauses_short() -> None:
    """Collect, freeze what survives, and raise the collection thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
