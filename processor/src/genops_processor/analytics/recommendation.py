"""A cost recommendation, its categories, and the arithmetic every rule shares
(savings in integer micro-dollars, confidence from counted evidence). See
:mod:`genops_processor.analytics.recommendations` for the rules' contract."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from genops.money import MICROS_PER_USD

# Memory per GPU (GB) of the SKUs the smaller-GPU rule may suggest.
GPU_MEMORY_GB: dict[str, int] = {
    "T4": 16,
    "V100": 16,
    "A10G": 24,
    "L4": 24,
    "A100-40GB": 40,
    "A100-80GB": 80,
    "H100": 80,
    "H200": 141,
}

FAILED_EARLY = "failed_early"
IDLE_GPU = "idle_gpu"
DUPLICATE_CONFIGS = "duplicate_configs"
UNUSED_ARTIFACTS = "unused_artifacts"
SPOT = "spot"
SMALLER_GPU = "smaller_gpu"

# Rules whose savings are (a share of) the whole run: the run need not have happened.
WHOLE_RUN_CATEGORIES = (FAILED_EARLY, DUPLICATE_CONFIGS)
# Rules whose savings are a share of the run's compute (hardware) cost.
COMPUTE_CATEGORIES = (IDLE_GPU, SPOT, SMALLER_GPU)

SECONDS_PER_HOUR = Decimal(3600)
_MAX_LISTED = 10  # runs named in evidence before "... and N more"


@dataclass(frozen=True)
class Recommendation:
    """One recommendation: what to do, what it would save, how sure we are, and why.

    ``run_savings`` holds the share of ``estimated_savings_micros`` owed to each
    run (run_key, micros); :func:`generate` uses it to count each run once when
    several rules apply to the same run.
    """

    category: str
    recommendation: str
    estimated_savings_micros: int
    confidence: float  # 0..100
    evidence: tuple[str, ...] = ()
    run_savings: tuple[tuple[str, int], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The guide's shape: savings in USD, confidence in percent (one decimal)."""
        return {
            "category": self.category,
            "recommendation": self.recommendation,
            "estimated_savings": self.estimated_savings_micros / MICROS_PER_USD,
            "confidence": max(0.1, round(self.confidence, 1)),
            "evidence": list(self.evidence),
        }


# --------------------------------------------------------------------------- helpers


def grow(n: float, half: float) -> float:
    """Evidence from a count: ``1 - 2**(-n/half)`` (0 at n=0, 0.5 at n=half, -> 1)."""
    return 1.0 - 2.0 ** (-n / half)


def dec(value: float | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def round_micros(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def share_of(micros: int, fraction: Decimal) -> int:
    """``micros * fraction`` rounded half-even to a whole micro-dollar."""
    return round_micros(Decimal(micros) * fraction)


def listed(lines: Sequence[str]) -> tuple[str, ...]:
    if len(lines) <= _MAX_LISTED:
        return tuple(lines)
    return (*lines[:_MAX_LISTED], f"... and {len(lines) - _MAX_LISTED} more")


def hours_text(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def check_fraction(name: str, value: float, *, low_open: bool = True) -> None:
    ok = (0 < value <= 1) if low_open else (0 <= value <= 1)
    if not ok:
        raise ValueError(f"{name} must be within {'(0' if low_open else '[0'}, 1], got {value!r}")


def make(
    category: str,
    text: str,
    per_run: Sequence[tuple[str, int]],
    confidence: float,
    evidence: Iterable[str],
) -> list[Recommendation]:
    savings = sum(m for _, m in per_run)
    if savings <= 0:
        return []
    return [
        Recommendation(
            category=category,
            recommendation=text,
            estimated_savings_micros=savings,
            confidence=min(100.0, confidence),
            evidence=tuple(evidence),
            run_savings=tuple((k, m) for k, m in per_run if m > 0),
        )
    ]


# --------------------------------------------------------------------------- a. failed early
