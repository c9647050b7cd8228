"""How one message reaches one channel: the policy's addresses mapped onto Apprise URLs
(Slack, Teams, PagerDuty, e-mail, any ``apprise+`` URL), a genops JSON document for
``webhook+`` receivers, and an alert for a Prometheus Alertmanager.

* ``webhook+https://...``: the genops JSON document (``alert_id``, ``budget``,
  ``threshold`` ... as numbers), the channel's token as a bearer token. Apprise's
  ``json://`` would wrap it in its own envelope with every value a string, which would
  break the receivers written against this document; for Apprise's envelope write
  ``apprise+json://...``.
* ``slack+https://hooks.slack.com/...``, ``teams+https://...``, ``pagerduty://...``,
  ``apprise+URL``: Apprise. A ``slack+`` URL Apprise does not know (a Slack-compatible
  server such as Mattermost) gets ``{"text": ...}`` as before.
* ``email://to@example.com``: Apprise's ``mailtos://`` with the policy's ``smtp``:
  STARTTLS verified against the system's CAs (or ``SSL_CERT_FILE``) unless
  ``starttls: false``, then the login; a server that offers no STARTTLS never gets it.
* ``alertmanager://host:port``: a POST to ``/api/v2/alerts`` (see :func:`am_alert`).

Every attempt raises :class:`DeliveryError` on failure, with the HTTP status and the
receiver's ``Retry-After`` when there was one. No redirect is followed (it would carry a
token elsewhere). Apprise's own log is kept out of the processor's log (it may name a
URL); the caller scrubs every secret of the channel from the error it records.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from genops_processor.alerts.messages import Alert, Notice
from genops_processor.budgets.alert_settings import Channel, SmtpSettings
from genops_processor.limits import DELIVERY_TIMEOUT_S

_log = logging.getLogger(__name__)
logging.getLogger("apprise").propagate = False  # its lines may carry a URL: never logged


class DeliveryError(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def send(message: Alert | Notice, channel: Channel, smtp: SmtpSettings) -> None:
    """One attempt to deliver ``message`` to ``channel``; raises DeliveryError."""
    address = channel.address
    if address == "log://":
        _log.warning("%s", message.text)
    elif address.startswith("webhook+"):
        headers = {"Authorization": f"Bearer {channel.token}"} if channel.token else {}
        post_json(address.removeprefix("webhook+"), message.payload(), headers)
    elif address.startswith(("alertmanager://", "alertmanagers://")):
        post_json(am_url(address), [am_alert(message)])
    elif address.startswith("email://"):
        _apprise(mail_url(smtp, address.removeprefix("email://")), message, smtp.secrets())
    elif address.startswith("slack+"):
        url = address.removeprefix("slack+")
        if _apprise_knows(url):
            _apprise(url, message)
        else:  # a Slack-compatible server Apprise has no plugin for
            post_json(url, {"text": f"*{message.subject}*\n{message.text}"})
    elif address.startswith("teams+"):
        _apprise(address.removeprefix("teams+"), message)
    elif address.startswith("pagerduty://"):
        _apprise(address, message)
    elif address.startswith("apprise+"):
        _apprise(address.removeprefix("apprise+"), message)
    else:
        raise DeliveryError(f"channel {channel.name!r} has no address")


# -- Alertmanager ---------------------------------------------------------------------

_LABEL = re.compile(r"[^A-Za-z0-9_]")


def am_url(address: str) -> str:
    """``alertmanager://host:port[/prefix]`` -> ``http://host:port[/prefix]/api/v2/alerts``."""
    scheme, _, rest = address.partition("://")
    web = "https" if scheme == "alertmanagers" else "http"
    return f"{web}://{rest.rstrip('/')}/api/v2/alerts"


def severity(threshold: int) -> str:
    """A budget threshold's severity label: 100 % and above critical, 80 % warning."""
    return "critical" if threshold >= 100 else "warning" if threshold >= 80 else "info"


def am_alert(message: Alert | Notice) -> dict:
    """The alert as Alertmanager takes it: labels to route, silence and inhibit on (the
    budget's scope, name, threshold and severity), the text as annotations. No endsAt:
    Alertmanager resolves it after its ``resolve_timeout``."""
    if isinstance(message, Alert):
        labels = {
            "alertname": "GenOpsBudgetThreshold",
            "budget": message.budget,
            "threshold": str(message.threshold),
            "severity": severity(message.threshold),
            **{k: v for k, v in message.scope.items() if v},
        }
        if message.mode:
            labels["mode"] = message.mode
    else:
        detail = message.detail
        labels = {
            "alertname": "GenOpsMonitoringAlert",
            "severity": str(detail.get("severity") or "warning"),
        }
        for key in ("budget", "metric", "violation_type", "rule_id"):
            if isinstance(detail.get(key), (str, int, float)) and detail.get(key) != "":
                labels[key] = str(detail[key])
    labels = {_LABEL.sub("_", k): str(v)[:200] for k, v in labels.items()}
    return {
        "labels": {"source": "genops", **labels},
        "annotations": {
            "summary": message.subject,
            "description": message.text,
            "alert_id": message.alert_id,
        },
    }


# -- Apprise ---------------------------------------------------------------------------


def mail_url(smtp: SmtpSettings, to: str) -> str:
    """The policy's ``smtp`` and a recipient as an Apprise mail URL."""
    if smtp.unavailable:
        raise DeliveryError(smtp.unavailable)
    quote = lambda text: urllib.parse.quote(text, safe="")  # noqa: E731
    login = f"{quote(smtp.username)}:{quote(smtp.password)}@" if smtp.username else ""
    host = f"[{smtp.host}]" if ":" in smtp.host else smtp.host
    query = {"to": to, "from": smtp.sender, "smtp": smtp.host}
    if smtp.starttls:
        scheme, query["mode"] = "mailtos", "starttls"
    else:
        scheme = "mailto"
    return f"{scheme}://{login}{host}:{smtp.port}?{urllib.parse.urlencode(query)}"


def _apprise_knows(url: str) -> bool:
    import apprise

    return apprise.Apprise.instantiate(url) is not None


def _apprise(url: str, message: Alert | Notice, secrets: tuple[str, ...] = ()) -> None:
    """One notification through Apprise; its status and Retry-After seen on the way."""
    import apprise

    _observe_http()
    _seen.responses, _seen.logged = [], []
    try:
        asset = apprise.AppriseAsset(http_redirects=False)
        service = apprise.Apprise.instantiate(url, asset=asset)
        if service is None:
            why = _scrubbed(_seen.logged[0][1] if _seen.logged else "", secrets)
            raise DeliveryError(f"Apprise cannot use this channel's URL: {why or 'unknown'}")
        service.redirects = False  # also when the URL says redirect=yes: a token stays here
        service.socket_connect_timeout = service.socket_read_timeout = DELIVERY_TIMEOUT_S
        sent = service.notify(body=message.text, title=message.subject)
    finally:
        responses, logged = _seen.responses, _seen.logged
        _seen.responses = _seen.logged = None
    if sent:
        return
    status, retry_after = responses[-1] if responses else (None, None)
    if status is not None:
        raise DeliveryError(f"HTTP {status}: not delivered", _retry_after(retry_after))
    warnings = [text for level, text in logged if level >= logging.WARNING]
    text = warnings[-1] if warnings else "the service did not accept it"
    causes = [t for level, t in logged if level < logging.WARNING and "Exception:" in t]
    if causes:  # the exception behind the warning (e.g. "STARTTLS extension not supported")
        text += f": {causes[-1].partition('Exception:')[2].strip()}"
    raise DeliveryError(f"not delivered: {_scrubbed(text, secrets)[:200]}")


def _scrubbed(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***") if secret else text
    return text


_seen = threading.local()  # the HTTP answers and Apprise's warnings of this thread's attempt
_hooked = threading.Lock()


class _ThreadLog(logging.Handler):
    """Apprise's lines, kept for the delivery thread that caused them (a warning and its
    exception explain a failure that had no HTTP answer); never written anywhere."""

    def emit(self, record: logging.LogRecord) -> None:
        logged = getattr(_seen, "logged", None)
        if logged is None:
            return
        if record.levelno >= logging.WARNING or "Exception:" in str(record.msg):
            logged.append((record.levelno, record.getMessage()))


logging.getLogger("apprise").addHandler(_ThreadLog(logging.DEBUG))
logging.getLogger("apprise").setLevel(logging.DEBUG)


def _observe_http() -> None:
    """Apprise's plugins call ``requests`` and keep the answer to themselves; a response
    hook on every new ``requests`` session records (status, Retry-After) for the delivery
    thread that asked (others record nothing)."""
    import requests.hooks
    import requests.sessions

    with _hooked:
        if getattr(requests.sessions.default_hooks, "genops", False):
            return

        def hooks() -> dict:
            found = requests.hooks.default_hooks()
            found["response"].append(_record_response)
            return found

        hooks.genops = True  # type: ignore[attr-defined]
        requests.sessions.default_hooks = hooks


def _record_response(response, *args, **kwargs):
    seen = getattr(_seen, "responses", None)
    if seen is not None and response.status_code >= 300:
        seen.append((response.status_code, response.headers.get("Retry-After")))
    return response


# -- plain HTTP ------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed (it would carry the webhook's token elsewhere): the
    attempt fails with the redirect's status."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0913
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, payload: object, headers: Mapping[str, str] | None = None) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=DELIVERY_TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        raise DeliveryError(
            f"HTTP {error.code} {error.reason}", _retry_after(error.headers.get("Retry-After"))
        ) from None
    except TimeoutError:
        raise DeliveryError(f"no answer within {DELIVERY_TIMEOUT_S:g} s") from None
    if status >= 300:
        raise DeliveryError(f"HTTP {status}: not delivered")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number; an HTTP date is ignored)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 1e9 else None
