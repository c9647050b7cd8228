"""Money on both sides of the wire: integer micro-dollars, never binary floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext

MICROS_PER_USD = 1_000_000
# Wide enough that no product of our inputs is rounded before the final step.
_EXACT = Context(prec=80)


def parse_usd_micros(value: object) -> int:
    """Dollars (str, int, float or Decimal) -> integer micro-dollars, exactly.

    Raises ValueError with a reason fit to follow the name of the key.
    """
    if value is None or isinstance(value, bool):
        raise ValueError("not a number of dollars")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("not a number of dollars") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a non-negative amount of dollars")
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise ValueError("more precise than a micro-dollar")
    return int(micros)


def dollars_to_micros(value: object, what: str) -> int:
    """A dollar amount (float, int, str or Decimal) rounded half-even to micro-dollars.

    For amounts users pass to the adapter API; ``what`` names the argument in errors.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number of dollars, not {value!r}")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise TypeError(f"{what} must be a number of dollars, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a non-negative number of dollars, not {value!r}")
    return round_micros(amount)


def format_usd(micros: int) -> str:
    """Micro-dollars as dollars with cents, keeping sub-cent digits when present."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    text = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{text}"


def micros_to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_USD


def to_dollars(micros: int) -> float:
    """Micro-dollars as a float of dollars, for display and the guide's float API
    (the ledger keeps the integer)."""
    return micros / MICROS_PER_USD


def round_micros(dollars: Decimal) -> int:
    """An exact dollar amount to micro-dollars, rounded half-even once: the one
    rounding rule of the ledger, the processor's pricing and the client's estimates."""
    with localcontext(_EXACT):
        return int((dollars * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
