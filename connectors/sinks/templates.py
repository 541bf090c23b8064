"""Per-receiver text overrides: a small, safe subset of Alertmanager's Go template syntax.

Alertmanager configs carry Go templates in fields such as ``slack_configs.text`` or
``opsgenie_configs.message``. Running Go templates (or Jinja, which would be a second language with
its own sandboxing concerns) is out of scope; the simple forms people actually write are not:

- ``{{ .Status }}``, ``{{ .Receiver }}``, ``{{ .ExternalURL }}``, ``{{ .GroupKey }}``;
- ``{{ .GroupLabels.team }}``, ``{{ .CommonLabels.severity }}``, ``{{ .CommonAnnotations.summary }}``
  (a missing key reads as "");
- our additions ``{{ .Priority }}``, ``{{ .Title }}``, ``{{ .Summary }}``, ``{{ .SilenceURL }}``,
  ``{{ .FiringCount }}``, ``{{ .ResolvedCount }}``, ``{{ .TruncatedAlerts }}``;
- ``{{ template "<kind>.default.<field>" . }}`` (any name ending in ``.default.<field>``): our
  default text for that field;
- ``{{-`` and ``-}}`` trim the whitespace next to them, as in Go.

Anything else (``range``, ``if``, pipes, functions) is refused when the connector is built, naming
the field, so a template never renders half-right. Values are inserted through the target's escape
function (HTML for Telegram and e-mail); the template's own text is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_FIELD = re.compile(r"\.([A-Za-z][A-Za-z0-9]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?")
_TEMPLATE_CALL = re.compile(r'template\s+"([^"]+)"\s+\.')
MAPS = ("GroupLabels", "CommonLabels", "CommonAnnotations")
SCALARS = ("Status", "Receiver", "ExternalURL", "GroupKey", "Priority", "Title", "Summary", "SilenceURL",
           "FiringCount", "ResolvedCount", "TruncatedAlerts")
SUPPORTED = ('{{ .Field }}, {{ .GroupLabels.name }}, {{ .CommonLabels.name }}, '
             '{{ .CommonAnnotations.name }}, {{ template "<kind>.default.<field>" . }}')


@dataclass(frozen=True)
class _Piece:
    literal: str = ""
    field: str = ""  # "Status" or "CommonLabels"
    key: str = ""  # for maps
    default: bool = False  # {{ template "x.default.y" . }}


@dataclass(frozen=True)
class TextTemplate:
    source: str
    pieces: tuple[_Piece, ...]

    @classmethod
    def parse(cls, source: str, field: str) -> TextTemplate:
        """Parse ``source`` (the value of config key ``field``); ValueError names what is unsupported."""
        pieces: list[_Piece] = []
        pos = 0
        pending_literal = ""
        for found in _ACTION.finditer(source):
            literal = pending_literal + source[pos:found.start()]
            if found.group(1):
                literal = literal.rstrip()
            pieces.append(_Piece(literal=literal))
            pieces.append(_parse_action(found.group(2), field))
            pos = found.end()
            pending_literal = ""
            if found.group(3):
                rest = source[pos:]
                pos += len(rest) - len(rest.lstrip())
        tail = source[pos:]
        if "{{" in tail:
            raise ValueError(f"{field}: unterminated template action in {tail[tail.index('{{'):][:40]!r}")
        pieces.append(_Piece(literal=tail))
        return cls(source, tuple(p for p in pieces if p != _Piece()))

    def render(self, data: Mapping[str, object], default: str = "",
               escape: Callable[[str], str] = lambda text: text) -> str:
        """The text for ``data``; ``default`` (already formatted for the target) fills template calls."""
        out = []
        for piece in self.pieces:
            if piece.default:
                out.append(default)
            elif piece.field in MAPS:
                values = data.get(piece.field) or {}
                assert isinstance(values, Mapping)
                out.append(escape(str(values.get(piece.key, ""))))
            elif piece.field:
                out.append(escape(str(data.get(piece.field, ""))))
            else:
                out.append(piece.literal)
        return "".join(out)


def _parse_action(action: str, field: str) -> _Piece:
    if (call := _TEMPLATE_CALL.fullmatch(action)) is not None:
        if ".default." not in call.group(1):
            raise ValueError(f'{field}: unknown template "{call.group(1)}" (only the *.default.* ones exist here)')
        return _Piece(default=True)
    found = _FIELD.fullmatch(action)
    if found is not None:
        name, key = found.group(1), found.group(2)
        if name in MAPS and key:
            return _Piece(field=name, key=key)
        if name in SCALARS and not key:
            return _Piece(field=name)
    raise ValueError(f"{field}: unsupported template action {{{{ {action} }}}}; supported: {SUPPORTED}")


def optional_template(source: str | None, field: str) -> TextTemplate | None:
    """None for an unset or empty field (the connector then uses its default)."""
    return TextTemplate.parse(source, field) if source else None
