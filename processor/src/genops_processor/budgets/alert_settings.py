"""What a policy file may say about alerting: thresholds, channel addresses, the SMTP server.
Parsed with the policy; delivery lives in :mod:`genops_processor.alerts`.

Channel addresses:

* ``webhook+http://host/path`` (or https): a JSON POST of the alert;
* ``slack+https://hooks.slack.com/...``: a Slack-compatible ``{"text": ...}``;
* ``email://ops@example.com``: a mail through the policy's ``smtp`` server;
* ``log://``: a line in the processor's log.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_THRESHOLDS = (50, 80, 100)


SCHEMES = (
    "webhook+http://",
    "webhook+https://",
    "slack+http://",
    "slack+https://",
    "email://",
    "log://",
)


class AlertConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    sender: str = "genops@localhost"


def is_address(channel: str) -> bool:
    return channel == "log://" or channel.startswith(SCHEMES)


def check_channel(address: str, where: str) -> str:
    if is_address(address):
        return address
    raise AlertConfigError(
        f"{where}: {address!r} is not a channel (expected one of {', '.join(SCHEMES)})"
    )
