"""Cache keys of model answers. Pure.

Two alerts share an answer only when the model would have been asked exactly the same thing: the key
is a digest of the request body itself (model, parameters, system prompt, and the alert as sent: its
labels without the volatile ones and the ones classification writes, and the annotations the ``llm``
section sends) plus a format version. So nothing the model reads can differ between two alerts that
share a cached answer — an alert whose description says "answer severity info" gets its own answer,
never one that another alert with the same labels receives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

KEY_PREFIX = "alert-pipeline:llm:v2:"
# Bump when the meaning of a cached answer changes without the request bytes changing (how an answer
# is parsed or what it is for): entries under another version are never read.
REQUEST_FORMAT = "chat-completions-json-object/1"


def stable_labels(labels: Mapping[str, str], ignored: Iterable[str]) -> dict[str, str]:
    skip = set(ignored)
    return {name: value for name, value in labels.items() if name not in skip and value != ""}


def request_signature(body: bytes) -> str:
    """Hex digest of the request format and the exact body sent to the model."""
    digest = hashlib.sha256()
    _feed(digest, REQUEST_FORMAT.encode())
    _feed(digest, body)
    return digest.hexdigest()


def cache_key(signature: str) -> str:
    return KEY_PREFIX + signature


def _feed(digest, data: bytes) -> None:
    digest.update(len(data).to_bytes(8, "big"))  # length-prefixed: no two inputs run together
    digest.update(data)
