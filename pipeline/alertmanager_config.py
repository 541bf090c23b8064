"""Reading the Alertmanager-format configuration file the pipeline shares with Alertmanager.

The whole file is loaded and validated by :mod:`pipeline.amconfig` (a file Alertmanager 0.25 would
refuse is refused here); this module keeps the small entry point ingest uses.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipeline.amconfig import DEFAULT_RESOLVE_TIMEOUT, AlertmanagerConfig, ConfigError, load_config

__all__ = ["DEFAULT_RESOLVE_TIMEOUT", "ConfigFileError", "global_resolve_timeout", "load_alertmanager_config"]

# The error callers catch: the loader's ConfigError (a ValueError naming file, line and key path).
ConfigFileError = ConfigError


def load_alertmanager_config(path: Path) -> AlertmanagerConfig:
    """Load and validate the file; a missing file reads "<path>: no such Alertmanager configuration file"."""
    if not Path(path).is_file():
        raise ConfigError("no such Alertmanager configuration file", source=str(path))
    return load_config(path)


def global_resolve_timeout(path: Path) -> timedelta:
    """``global.resolve_timeout`` of a valid configuration (Alertmanager's default 5m when unset).

    Like Alertmanager, ``0s`` is accepted: alerts without ``endsAt`` then resolve at once."""
    return load_alertmanager_config(path).global_config.resolve_timeout
