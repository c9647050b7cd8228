"""Analytics over the ledger: cost summaries and attribution (SQL in ``queries``), forecasts,
recommendations and anomalies (pure logic over ``history`` facts); ``jobs`` are the
functions the API runs on the writer thread."""
