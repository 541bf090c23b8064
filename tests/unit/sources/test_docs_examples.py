"""Every source file shown in docs/sources is a valid source of the kind its page is about."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.paths import REPO_ROOT
from pipeline.sources.model import load_source

DOCS = REPO_ROOT / "docs" / "sources"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
PAGES = {"push.md": "push", "poll.md": "poll", "stream-nats.md": "stream", "stream-kubernetes.md": "stream"}


def examples():
    for page, kind in PAGES.items():
        for index, block in enumerate(BLOCK.findall((DOCS / page).read_text())):
            yield pytest.param(yaml.safe_load(block), kind, id=f"{page}-{index}")


def _with_local_files(value, stand_in: Path):
    """File paths of the examples (CA bundles, kubeconfigs) point at a file that exists here."""
    if isinstance(value, dict):
        return {key: (str(stand_in) if (key.endswith("_file") or key == "path") and isinstance(item, str)
                      and item.startswith("/") else _with_local_files(item, stand_in)) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_local_files(item, stand_in) for item in value]
    return value


@pytest.mark.parametrize("document, kind", list(examples()))
def test_documented_source_files_are_valid(tmp_path, document, kind):
    stand_in = tmp_path / "file"
    stand_in.write_text("x")
    names = set(re.findall(r"\b[A-Z][A-Z0-9_]+\b", yaml.safe_dump(document)))
    file = tmp_path / "example.yaml"
    file.write_text(yaml.safe_dump(_with_local_files(document, stand_in)))
    source = load_source(file, environ={name: "value-from-env" for name in names})
    assert source.kind == kind
