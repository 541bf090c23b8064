"""The classification file (settings.classification.rules_file): one YAML document with

- ``relabel``: ordered relabel rules, applied by the normalize stage (pipeline.classification.relabel),
- ``classification``: label names, severity mapping, defaults and rules (pipeline.classification.rules),
- ``llm``: what the optional model is asked, and when (pipeline.classification.llm_config),
- ``workflows``: enrichment workflows (pipeline.enrichment.workflows).

Loaded and checked once when a worker starts; any problem is a ``ClassificationFileError`` naming the
file and the key path, so a bad file stops the worker instead of misclassifying alerts.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.classification.llm_config import LlmPromptConfig
from pipeline.classification.relabel import RelabelRule
from pipeline.classification.rules import ClassificationConfig
from pipeline.enrichment.workflows import Workflow


class ClassificationFileError(ValueError):
    """The classification file is missing, not YAML, or breaks a rule; the message says where."""


class ClassificationFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relabel: tuple[RelabelRule, ...] = ()
    classification: ClassificationConfig = ClassificationConfig()
    llm: LlmPromptConfig = LlmPromptConfig()
    workflows: tuple[Workflow, ...] = ()


def load_for_worker(path: Path, stage: str) -> ClassificationFile:
    """The file for a starting worker: a problem ends the process with the message, no traceback."""
    try:
        return load_classification_file(path)
    except ClassificationFileError as exc:
        raise SystemExit(f"stage {stage!r}: {exc}") from None


def load_classification_file(path: Path) -> ClassificationFile:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ClassificationFileError(f"{path}: cannot read the classification file: {exc.strerror}") from None
    return parse_classification_file(text, str(path))


def parse_classification_file(text: str, where: str = "<classification file>") -> ClassificationFile:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClassificationFileError(f"{where}: not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ClassificationFileError(f"{where}: expected a mapping at the top level")
    try:
        return ClassificationFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ClassificationFileError(f"{where}: {problems}") from None
