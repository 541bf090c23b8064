"""``pipeline sources list`` and ``pipeline sources check [--connect]``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from pipeline.ingest.formats import GenericMapping
from pipeline.settings import Settings
from pipeline.sources.model import Source, SourceError, describe_validation_error, load_sources

PROBE_TIMEOUT_S = 20.0


def runs_in(source: Source) -> str:
    return "bridge" if source.kind == "push" else "sources run"


def list_rows(directory: Path) -> list[tuple[str, ...]]:
    registry = load_sources(directory)
    return [(s.name, s.kind, s.type, "yes" if s.enabled else "no", runs_in(s), s.target) for s in registry]


def mapping_problems(source: Source) -> list[str]:
    """What the bridge or runner would refuse at start-up about a source's generic mapping."""
    if source.mapping is None:
        return []
    try:
        GenericMapping.model_validate(source.mapping)
    except ValidationError as exc:
        return describe_validation_error(exc, f"{source.origin}: mapping").splitlines()
    return []


def check_sources(directory: Path, settings: Settings, *, connect: bool, echo: Callable[[str], None]) -> bool:
    """Validate every file of ``directory`` (every problem is listed), then, with ``connect``, call each
    enabled poll and stream source's upstream once. True when everything passed."""
    try:
        registry = load_sources(directory)
    except SourceError as exc:
        for line in str(exc).splitlines():
            echo(line)
        return False
    problems = [line for source in registry for line in mapping_problems(source)]
    for line in problems:
        echo(line)
    kinds = {kind: len(registry.of_kind(kind)) for kind in ("push", "poll", "stream")}
    echo(f"{directory}: {len(registry)} sources ({', '.join(f'{n} {k}' for k, n in kinds.items())})"
         + (", valid" if not problems else ""))
    if not connect or problems:
        return not problems
    return asyncio.run(_probe_all(registry.all(), settings, echo))


async def _probe_all(sources, settings: Settings, echo: Callable[[str], None]) -> bool:
    from pipeline.alertmanager_config import global_resolve_timeout
    from pipeline.sources.base import SourceContext
    from pipeline.sources.runner import build_source

    try:
        resolve_timeout = global_resolve_timeout(settings.alertmanager_config)
    except Exception:  # noqa: BLE001 - the probe does not need it; `pipeline config check` reports it
        resolve_timeout = timedelta(minutes=5)
    context = SourceContext(resolve_timeout=resolve_timeout, max_record_bytes=settings.max_record_bytes)
    ok = True
    for source in sources:
        if not source.enabled:
            echo(f"{source.name}: disabled, not probed")
            continue
        if source.kind == "push":
            echo(f"{source.name}: push source, nothing to connect to (senders post to the bridge at {source.path})")
            continue
        runnable = build_source(source, writer=None, context=context)  # type: ignore[arg-type]  # probes write nothing
        try:
            line = await asyncio.wait_for(runnable.probe(), PROBE_TIMEOUT_S)
        except asyncio.TimeoutError:
            ok = False
            echo(f"{source.name}: FAILED: no answer within {PROBE_TIMEOUT_S:.0f} s")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then the next source is probed
            ok = False
            text = str(exc).strip()
            echo(f"{source.name}: FAILED: {type(exc).__name__}{': ' + text if text else ''}")
        else:
            echo(f"{source.name}: ok: {line}")
    return ok
