"""The bridge's OpenAPI document, kept in the repository next to the code and served as is."""

from functools import cache
from pathlib import Path

import yaml

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


@cache
def openapi_document() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())
