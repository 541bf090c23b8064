"""The bridge as a real process (uvicorn) on a free port, with source files written by the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from pipeline.devenv.components import Component, wait_until_ready
from pipeline.devenv.process import free_port
from pipeline.settings import Settings

OPEN_SOURCES: dict[str, dict[str, Any]] = {
    # One source of every type, without auth: for tests that exercise formats, not auth.
    "prometheus": {"type": "alertmanager-v2", "auth": "none"},
    "alertmanager": {"type": "alertmanager-webhook", "auth": "none"},
    "grafana": {"type": "grafana", "auth": "none"},
    "items": {"type": "generic", "auth": "none", "mapping": {
        "alerts": "items", "labels": {"alertname": "title", "service": "service"},
        "annotations": {"summary": "message"},
        "status": {"path": "state", "firing": ["open"], "resolved": ["closed"]},
    }},
}


@dataclass
class RunningBridge:
    url: str
    settings: Settings
    component: Component

    def log(self) -> str:
        return self.component.log_tail(40)


def write_sources(directory: Path, sources: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, spec in sources.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, **spec}))
    return directory


@contextmanager
def running_bridge(settings: Settings, sources: dict[str, dict[str, Any]], workdir: Path, *,
                   web: dict[str, Any] | None = None, scheme: str = "http",
                   ready_get: Callable[[str], httpx.Response] | None = None,
                   **bridge_settings: Any) -> Iterator[RunningBridge]:
    """``web``: settings of the web section (e.g. ``config_file``); with TLS, ``scheme="https"`` and a
    ``ready_get`` that can reach /readyz (CA, credentials)."""
    port = free_port()
    sources_dir = write_sources(workdir / "sources", sources)
    bridge = settings.bridge.model_copy(update={"host": "127.0.0.1", "port": port, "sources_dir": sources_dir,
                                                **bridge_settings})
    update: dict[str, Any] = {"bridge": bridge}
    if web is not None:
        update["web"] = settings.web.model_copy(update=web)
    configured = settings.model_copy(update=update)
    with Component("bridge", ["bridge"], configured, workdir / "logs") as component:
        url = f"{scheme}://127.0.0.1:{port}"
        wait_until_ready(component, f"{url}/readyz", get=ready_get)
        yield RunningBridge(url, configured, component)
