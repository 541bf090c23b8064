"""One parser per sender format, keyed by the source type named in the bridge's configuration.

Every module has ``SOURCE_FORMAT`` (written to RawAlert.source_format) and
``parse(payload, *, source, received_at, resolve_timeout, **format_options)
-> ParsedBatch``.  Only ``generic`` takes an option: ``mapping``, a
GenericMapping.  ``parse`` raises PayloadError when the body as a whole is
unusable; otherwise each alert is either in ``alerts`` (normalize accepts
it) or has an AlertProblem.
"""

from __future__ import annotations

from types import ModuleType

from pipeline.ingest.formats import alertmanager_v2, alertmanager_webhook, generic, grafana
from pipeline.ingest.formats.batch import ParsedBatch
from pipeline.ingest.formats.generic_mapping import GenericMapping, SeverityMapping, StatusMapping

FORMATS: dict[str, ModuleType] = {
    "alertmanager-v2": alertmanager_v2,
    "alertmanager-webhook": alertmanager_webhook,
    "grafana": grafana,
    "generic": generic,
}

__all__ = ["FORMATS", "GenericMapping", "ParsedBatch", "SeverityMapping", "StatusMapping"]
