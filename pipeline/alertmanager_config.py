"""Reading the Alertmanager-format configuration file the pipeline shares with Alertmanager.

Only ``global.resolve_timeout`` is read here (ingest needs it); routes, receivers and inhibit rules
are loaded by the routing stages.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from pipeline.durations import parse_duration

DEFAULT_RESOLVE_TIMEOUT = timedelta(minutes=5)  # Alertmanager's default


class ConfigFileError(ValueError):
    """The configuration file is missing or malformed; the message names the file and key."""


def global_resolve_timeout(path: Path) -> timedelta:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigFileError(f"{path}: no such Alertmanager configuration file") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {exc}") from exc
    value = (document.get("global") or {}).get("resolve_timeout")
    if value is None:
        return DEFAULT_RESOLVE_TIMEOUT
    try:
        timeout = parse_duration(str(value))
    except ValueError as exc:
        raise ConfigFileError(f"{path}: global.resolve_timeout: {exc}") from exc
    if timeout <= timedelta(0):
        raise ConfigFileError(f"{path}: global.resolve_timeout must be positive, got {value!r}")
    return timeout
