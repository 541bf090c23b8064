"""Ingest core: sender payloads → RawAlert, and RawAlert → normalized Alert.

Pure functions only (no Kafka, HTTP or I/O), shared by the HTTP bridge and
the normalize stage so that both apply Alertmanager's rules identically.
"""

from __future__ import annotations

from pipeline.ingest.errors import AlertProblem, InvalidAlert, PayloadError, multi_error_text
from pipeline.ingest.formats import FORMATS, GenericMapping, ParsedBatch
from pipeline.ingest.normalize import fill_gaps, normalize

__all__ = [
    "FORMATS",
    "AlertProblem",
    "GenericMapping",
    "InvalidAlert",
    "ParsedBatch",
    "PayloadError",
    "fill_gaps",
    "multi_error_text",
    "normalize",
]
