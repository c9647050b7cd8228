"""Ingest: an OTLP request decoded into domain events, folded into run states (the ledger),
priced and written in one transaction, once per span; the requests waiting for the writer
share one transaction and its commit (group_commit)."""

from genops_processor.ingest.decode import decode_request
from genops_processor.ingest.group_commit import IngestQueue
from genops_processor.ingest.write import IngestResult, ingest_batch, ingest_batches

__all__ = ["IngestQueue", "IngestResult", "decode_request", "ingest_batch", "ingest_batches"]
