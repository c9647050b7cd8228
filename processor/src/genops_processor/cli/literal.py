"""Names from telemetry, shown literally on a terminal.

A team, project or run name comes from whoever sent the span. Printed as it is, a name
with terminal escapes (``\\x1b[31m``, a cursor move, a title change) would act on the
reader's terminal, and one with rich markup (``[/]``, ``[bold red]``) would be parsed
as markup (or fail to parse). :func:`literal` makes every control or invisible format
character visible as its escaped form (``\\x1b``, ``\\n``, ``\\u202e``); :func:`cell`
wraps that in a rich ``Text``, which rich never parses as markup or emoji codes. JSON
output is not rendered here: it stays exact.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Controls (C0, DEL, C1), format characters that move or hide text (bidi overrides,
# zero-width), surrogates, and line / paragraph separators.
_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def literal(value: object) -> str:
    """``value`` as text whose every character prints as itself."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case, checked at C speed
        return text
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _HIDDEN
        else char
        for char in text
    )


def cell(value: object, style: str = "") -> Text:
    """A rich table cell (or printable) showing ``value`` literally: no markup, no escapes."""
    return Text(literal(value), style=style)


def one_line(error: BaseException | str) -> str:
    """An error's message on one line, with any control characters made visible."""
    return literal(" ".join(str(error).split()))
