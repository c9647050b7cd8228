"""Which governor (adapter) is in charge of the W&B runs opened now.

The instrumentation asks :func:`current` at every ``wandb.init``; with no
governor it governs from the environment alone (``opentelemetry-instrument``).
An adapter becomes the process-wide governor when created through
``auto_instrument``/``instrument_wandb``, and the governor of one context
(thread or task) inside its ``track_experiment_lifecycle`` block.

Inside such a block the block's reservation funds the runs opened there: the
budget check of each ``wandb.init`` names it (:func:`funding_hold`), so the
processor counts the experiment's money once instead of reserving again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from genops.config import InstrumentationSettings


class Governor(Protocol):
    def instrumentation_settings(self) -> InstrumentationSettings: ...

    def run_attributes(self) -> Mapping[str, object]: ...

    def prepare_init_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]: ...

    def on_run_started(self, run_id: str, run: Any) -> None: ...

    def on_run_finished(self, run_id: str, failed: bool, cost_inputs: Any) -> None: ...


@dataclass(frozen=True)
class ArtifactAnnotation:
    """What log_governed_artifact attaches to the next logged artifact."""

    governance_metadata_json: str = ""
    cost_estimate_micros: int = 0


_scoped: ContextVar[Governor | None] = ContextVar("genops_governor", default=None)
_artifact: ContextVar[ArtifactAnnotation | None] = ContextVar("genops_artifact", default=None)
_process_wide: list[Governor | None] = [None]
_funding: ContextVar[str] = ContextVar("genops_funding_hold", default="")


def current() -> Governor | None:
    return _scoped.get() or _process_wide[0]


def set_process_wide(governor: Governor | None) -> None:
    _process_wide[0] = governor


def process_wide() -> Governor | None:
    return _process_wide[0]


@contextmanager
def governing(governor: Governor) -> Iterator[None]:
    token = _scoped.set(governor)
    try:
        yield
    finally:
        _scoped.reset(token)


@contextmanager
def funding(hold_id: str) -> Iterator[None]:
    """Runs opened in this context draw on ``hold_id`` (an experiment block's hold);
    an empty id leaves the enclosing block's hold, if any, in force."""
    token = _funding.set(hold_id or _funding.get())
    try:
        yield
    finally:
        _funding.reset(token)


def funding_hold() -> str:
    """The hold that funds a run opened now ("": none, the run reserves on its own)."""
    return _funding.get()


@contextmanager
def annotating_artifact(annotation: ArtifactAnnotation) -> Iterator[None]:
    token = _artifact.set(annotation)
    try:
        yield
    finally:
        _artifact.reset(token)


def artifact_annotation() -> ArtifactAnnotation | None:
    return _artifact.get()
