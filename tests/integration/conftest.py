"""Integration tests: every Settings built from the environment, and every worker a test starts, use
the tests' Redis (tests/conftest.py ``redis_url``: ``REDIS_URL`` or a redis-server of their own),
through the variable Settings reads (``PIPELINE_REDIS__URL``; ``REDIS_URL`` is only the fixtures').

Without this, a test that runs a sink without asking for ``redis_url`` (the demo, the acceptance
scenarios, the differential test) reached for the default dev Redis (127.0.0.1:16379): it passed where
a dev Redis happened to listen on the default port (CI starts one there) and failed where none did:
`make test` alone on a fresh machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipeline.settings import ENV_PREFIX

SETTINGS_VARIABLE = f"{ENV_PREFIX}REDIS__URL"


@pytest.fixture(scope="session", autouse=True)
def redis_url_in_environment(redis_url: str) -> Iterator[None]:
    before = os.environ.get(SETTINGS_VARIABLE)
    os.environ[SETTINGS_VARIABLE] = redis_url
    yield
    if before is None:
        os.environ.pop(SETTINGS_VARIABLE, None)
    else:
        os.environ[SETTINGS_VARIABLE] = before
