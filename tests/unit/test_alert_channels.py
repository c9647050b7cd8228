"""The policy's channel addresses mapped onto Apprise and Alertmanager: what is shown,
what counts as a secret, the labels an Alertmanager gets. Pure functions."""

from __future__ import annotations

import urllib.parse

from genops_processor.alerts.channels import am_alert, am_url, mail_url, severity
from genops_processor.alerts.messages import Alert, Notice
from genops_processor.budgets.alert_settings import Channel, SmtpSettings, scrub, shown_address


def test_service_urls_show_only_the_service():
    assert shown_address("pagerduty://intkey-1234@apikey-5678") == "pagerduty://***"
    assert shown_address("apprise+msteams://a/b/c/d") == "apprise+msteams://***"
    assert (
        shown_address("teams+https://x.webhook.office.com/abc")
        == "teams+https://x.webhook.office.com/***"
    )
    assert shown_address("alertmanager://127.0.0.1:9093") == "alertmanager://127.0.0.1:9093"
    assert shown_address("alertmanager://u:pw-9876@am:9093/p") == "alertmanager://***@am:9093/***"


def test_every_part_of_an_apprise_url_is_a_secret():
    channel = Channel("pd", "apprise+json://user:pw-1111@host:80/path-2222?+X=hdr-3333", "pd")
    text = "failed: json://user:pw-1111@host:80/path-2222?+X=hdr-3333 pw-1111 path-2222 hdr-3333"
    scrubbed = scrub(text, channel.secrets())
    assert not any(s in scrubbed for s in ("pw-1111", "path-2222", "hdr-3333")), scrubbed
    pagerduty = Channel("pd", "pagerduty://intkey-4444@apikey-5555", "pd")
    assert "intkey-4444" not in scrub("key intkey-4444 and apikey-5555", pagerduty.secrets())
    assert "apikey-5555" not in scrub("key intkey-4444 and apikey-5555", pagerduty.secrets())


def test_mail_maps_onto_apprise_starttls_with_the_login_quoted():
    smtp = SmtpSettings("mail.example.com", 587, "genops@example.com", "ops", "p@ss/w:rd")
    url = mail_url(smtp, "lead@example.com")
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "mailtos" and parts.hostname == "mail.example.com"
    assert urllib.parse.unquote(parts.password) == "p@ss/w:rd"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["mode"] == "starttls" and query["to"] == "lead@example.com"
    plain = mail_url(SmtpSettings("127.0.0.1", 25, starttls=False), "a@example.com")
    assert plain.startswith("mailto://127.0.0.1:25?") and "mode" not in plain


def test_alertmanager_gets_the_budgets_labels():
    assert am_url("alertmanager://am:9093") == "http://am:9093/api/v2/alerts"
    assert am_url("alertmanagers://am:9093/prefix/") == "https://am:9093/prefix/api/v2/alerts"
    alert = Alert("id1", "nlp-daily", "2026-12-04", 100, 5, 4, {"team": "nlp"}, "enforced")
    labels = am_alert(alert)["labels"]
    assert labels == {
        "source": "genops",
        "alertname": "GenOpsBudgetThreshold",
        "budget": "nlp-daily",
        "threshold": "100",
        "severity": "critical",
        "team": "nlp",
        "mode": "enforced",
    }
    assert [severity(t) for t in (50, 80, 100, 120)] == ["info", "warning", "critical", "critical"]
    notice = Notice("id2", "s", "t", {"severity": "high", "violation_type": "x", "body": {}})
    assert am_alert(notice)["labels"] == {
        "source": "genops",
        "alertname": "GenOpsMonitoringAlert",
        "severity": "high",
        "violation_type": "x",
    }


def test_slack_and_teams_addresses_are_apprise_services():
    import apprise

    slack = "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    teams = "https://prod-00.westus.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=abcdef"
    found = {
        url: type(apprise.Apprise.instantiate(url)).__name__
        for url in (slack, teams, "pagerduty://intkey@apikey")
    }
    assert list(found.values()) == ["NotifySlack", "NotifyWorkflows", "NotifyPagerDuty"]
