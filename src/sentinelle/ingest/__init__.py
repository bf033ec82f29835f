"""Ingest: batches of events (files, HTTP) into the store and the ledger, all or nothing."""

from __future__ import annotations

from sentinelle.ingest.files import (
    bytes_read,
    deep_element,
    events_in,
    input_size,
    iter_json_lines,
    open_input,
)
from sentinelle.ingest.pipeline import MAX_PROBLEMS, Ingestor, IngestResult

__all__ = [
    "MAX_PROBLEMS",
    "IngestResult",
    "Ingestor",
    "bytes_read",
    "deep_element",
    "events_in",
    "input_size",
    "iter_json_lines",
    "open_input",
]
