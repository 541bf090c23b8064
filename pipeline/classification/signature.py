"""Cache keys of model answers. Pure.

Two alerts get the same answer when they describe the same problem: the same labels once the volatile
ones (pod, instance, …) and the labels classification itself writes are left out. The model, the
prompt and a format version are part of the key, so changing any of them never serves a stale answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

KEY_PREFIX = "alert-pipeline:llm:v1:"


def stable_labels(labels: Mapping[str, str], ignored: Iterable[str]) -> dict[str, str]:
    skip = set(ignored)
    return {name: value for name, value in labels.items() if name not in skip and value != ""}


def alert_signature(labels: Mapping[str, str], ignored: Iterable[str], *, model: str, prompt: str) -> str:
    """Hex digest over the stable labels (sorted, length-prefixed so no two label sets collide),
    the model name and the prompt."""
    digest = hashlib.sha256()
    for part in (model, prompt):
        _feed(digest, part)
    for name, value in sorted(stable_labels(labels, ignored).items()):
        _feed(digest, name)
        _feed(digest, value)
    return digest.hexdigest()


def cache_key(signature: str) -> str:
    return KEY_PREFIX + signature


def _feed(digest, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)
