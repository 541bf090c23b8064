"""The one error type of the configuration loader."""

from __future__ import annotations


class ConfigError(ValueError):
    """An Alertmanager configuration Alertmanager 0.25 would refuse (or this loader cannot honour).

    ``str()`` reads ``<source>:<line>: <key path>: <reason>``; the parts are also attributes:
    ``source`` (file name), ``line`` (1-based, ``None`` when the whole file is at fault),
    ``path`` (e.g. ``route.routes[1].match_re``) and ``reason`` (Alertmanager's wording where it has one).
    """

    def __init__(self, reason: str, *, path: str = "", line: int | None = None, source: str = "") -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.source or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"

    def with_source(self, source: str) -> ConfigError:
        self.source = source
        self.args = (self._render(),)
        return self
