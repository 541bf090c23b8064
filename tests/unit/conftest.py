"""Unit tests are hermetic: no PIPELINE_* variable from the caller's environment reaches them."""

import os

import pytest


@pytest.fixture(autouse=True)
def _no_pipeline_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)
