"""The ledger's figures that /metrics shows, read in one short job (see metrics.py).

Grouped by the five scope labels so the scrape can cap them; every figure is a count or
a sum of integer micro-dollars as stored, so the gauges equal the ledger's own totals.
"""

from __future__ import annotations

from typing import Any

SCOPE = (
    "COALESCE(team, ''), COALESCE(project, ''), COALESCE(customer_id, ''), "
    "COALESCE(cost_center, ''), COALESCE(environment, '')"
)
# A run's priced cost by category; what no category column holds is "other".
_RUN_COSTS = f"""
SELECT {SCOPE}, COALESCE(status, ''), count(*),
    count(*) FILTER (WHERE len(COALESCE(violations, [])) > 0),
    COALESCE(SUM(cost_micros), 0), COALESCE(SUM(compute_micros), 0),
    COALESCE(SUM(storage_micros), 0), COALESCE(SUM(data_transfer_micros), 0),
    COALESCE(SUM(tracking_micros), 0)
FROM runs GROUP BY ALL ORDER BY ALL
"""
_MANUAL = f"""
SELECT {SCOPE}, COALESCE(category, 'other'), COALESCE(SUM(amount_micros), 0)
FROM manual_costs WHERE priced GROUP BY ALL ORDER BY ALL
"""
_DECISIONS = f"""
SELECT {SCOPE}, COALESCE(decision, ''), count(*) FROM budget_decisions
GROUP BY ALL ORDER BY ALL
"""
_HOLDS = f"""
SELECT {SCOPE}, count(*), COALESCE(SUM(amount_micros), 0) FROM holds WHERE status = 'open'
GROUP BY ALL ORDER BY ALL
"""
_APPROVALS = f"SELECT {SCOPE}, status, count(*) FROM approvals GROUP BY ALL ORDER BY ALL"
_AUDIT = (
    "SELECT COALESCE(team, ''), '', '', '', '', COALESCE(kind, ''), count(*) "
    "FROM audit_events GROUP BY ALL ORDER BY ALL"
)
_SINGLE = {
    "alerts_pending": "SELECT count(*) FROM alert_outbox WHERE state IN ('pending', 'retrying')",
    "quarantined_rows": "SELECT count(*) FROM quarantine",
}
_BY_KEY = {
    "alerts_fired": "SELECT budget, count(*) FROM alerts_fired GROUP BY ALL",
    "ledger_rejections": "SELECT reason, count(*) FROM span_rejections GROUP BY ALL",
    "monitoring_alerts": (
        "SELECT COALESCE(r.kind, ''), count(*) FROM alert_events e "
        "LEFT JOIN alert_rules r USING (rule_id) GROUP BY ALL"
    ),
    "delivery_failures": (
        "SELECT channel, count(*) FROM alert_deliveries WHERE status <> 'delivered' GROUP BY ALL"
    ),
}
CATEGORIES = ("compute", "storage", "data_transfer", "tracking")


def ledger_figures(conn: Any) -> dict[str, Any]:
    """Runs, cost lines, decisions, holds, alerts and the audit trail, grouped."""
    runs, costs = [], []
    for row in conn.execute(_RUN_COSTS).fetchall():
        scope, status, count, flagged, total, *by_category = row[:5], *row[5:]
        runs.append((tuple(scope), status, int(count), int(flagged)))
        for category, micros in zip(CATEGORIES, by_category, strict=True):
            if micros:
                costs.append((tuple(scope), category, int(micros)))
        if rest := int(total) - sum(int(m) for m in by_category):
            costs.append((tuple(scope), "other", rest))
    for *scope, category, micros in conn.execute(_MANUAL).fetchall():
        costs.append((tuple(scope), category, int(micros)))
    figures: dict[str, Any] = {"runs": runs, "costs": costs}
    figures["decisions"] = [
        (tuple(scope), decision, int(count))
        for *scope, decision, count in conn.execute(_DECISIONS).fetchall()
    ]
    figures["holds"] = [
        (tuple(scope), int(count), int(micros))
        for *scope, count, micros in conn.execute(_HOLDS).fetchall()
    ]
    for name, sql in (("approvals", _APPROVALS), ("audit_events", _AUDIT)):
        figures[name] = [
            (tuple(scope), key, int(count)) for *scope, key, count in conn.execute(sql).fetchall()
        ]
    for name, sql in _SINGLE.items():
        figures[name] = int(conn.execute(sql).fetchone()[0])
    for name, sql in _BY_KEY.items():
        figures[name] = {str(k): int(n) for k, n in conn.execute(sql).fetchall()}
    return figures
