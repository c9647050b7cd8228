"""Which governor (adapter) is in charge of the W&B runs opened now.

The instrumentation asks :func:`current` at every ``wandb.init``; with no
governor it governs from the environment alone (``opentelemetry-instrument``).
An adapter becomes the process-wide governor when created through
``auto_instrument``/``instrument_wandb``, and the governor of one context
(thread or task) inside its ``track_experiment_lifecycle`` block.
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
def annotating_artifact(annotation: ArtifactAnnotation) -> Iterator[None]:
    token = _artifact.set(annotation)
    try:
        yield
    finally:
        _artifact.reset(token)


def artifact_annotation() -> ArtifactAnnotation | None:
    return _artifact.get()
