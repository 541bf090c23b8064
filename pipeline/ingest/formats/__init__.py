"""One parser per sender format, keyed by the source type named in the bridge's configuration.

Every module has ``SOURCE_FORMAT`` (written to RawAlert.source_format) and
``parse(payload, *, source, received_at, resolve_timeout, **format_options)
-> ParsedBatch``.  Only ``generic`` takes an option: ``mapping``, a
GenericMapping; every ``parse`` takes ``stamp``, a SourceStamp: what the source adds to each
alert (labels, and for poll sources the end).  ``parse`` raises PayloadError when the body as a whole is
unusable; otherwise each alert is either in ``alerts`` (normalize accepts
it) or has an AlertProblem.
"""

from __future__ import annotations

from types import ModuleType

from pipeline.ingest.formats import alertmanager_v2, alertmanager_webhook, generic, grafana, prometheus_api
from pipeline.ingest.formats.batch import ParsedBatch, SourceStamp
from pipeline.ingest.formats.generic_mapping import GenericMapping, SeverityMapping, StatusMapping

FORMATS: dict[str, ModuleType] = {
    "alertmanager-v2": alertmanager_v2,
    "alertmanager-webhook": alertmanager_webhook,
    "grafana": grafana,
    "generic": generic,
}
# What the answer of each poll source type's upstream is read with: Alertmanager's GET /api/v2/alerts
# answers alert objects of the shape its POST takes (the extra status, fingerprint and receivers are
# ignored), a generic JSON API goes through the source's mapping.
POLL_FORMATS: dict[str, ModuleType] = {
    "prometheus": prometheus_api,
    "alertmanager": alertmanager_v2,
    "json": generic,
}

__all__ = ["FORMATS", "POLL_FORMATS", "GenericMapping", "ParsedBatch", "SeverityMapping", "SourceStamp",
           "StatusMapping"]
