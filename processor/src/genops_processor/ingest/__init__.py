"""Ingest: an OTLP request decoded into domain events, folded into run states (the ledger),
priced and written in one transaction, once per span."""

from genops_processor.ingest.decode import decode_request
from genops_processor.ingest.write import IngestResult, ingest_batch

__all__ = ["IngestResult", "decode_request", "ingest_batch"]
