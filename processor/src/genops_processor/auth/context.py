"""The principal of the call being served, bound for the duration of its handler.

The authentication interceptor binds it (:func:`bind`) around each handler; handlers and
the authorisation checks read it with :func:`current`."""

from __future__ import annotations

import contextvars

from genops_processor.auth.principals import Principal

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "genops_principal", default=None
)


def bind(principal: Principal) -> contextvars.Token:
    return _current.set(principal)


def unbind(token: contextvars.Token) -> None:
    _current.reset(token)


def current() -> Principal:
    """The authenticated principal; a handler reached without one is a wiring bug."""
    principal = _current.get()
    if principal is None:
        raise RuntimeError("no authenticated principal is bound to this call")
    return principal


def current_or_none() -> Principal | None:
    return _current.get()
