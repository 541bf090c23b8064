"""Shared values and helpers for the ingest tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.models import RawAlert

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RESOLVE_TIMEOUT = timedelta(minutes=5)
LABELS = {"alertname": "DiskFull", "instance": "db-1"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def at(minutes: float) -> datetime:
    """NOW shifted by ``minutes``."""
    return NOW + timedelta(minutes=minutes)


def raw_alert(**fields: Any) -> RawAlert:
    defaults: dict[str, Any] = dict(
        labels=LABELS, source="test", source_format="direct", received_at=NOW
    )
    return RawAlert(**{**defaults, **fields})


def parse_kwargs(**overrides: Any) -> dict[str, Any]:
    return dict(source="test", received_at=NOW, resolve_timeout=RESOLVE_TIMEOUT, **overrides)
