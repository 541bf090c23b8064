"""String helpers shared by the validation rules and their error messages."""

from __future__ import annotations

_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}
# Error messages quote sender data; a huge value must not make a huge message.
MAX_QUOTED_CHARS = 256


def is_valid_utf8(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8: no lone surrogate (JSON ``"\\ud800"`` decodes to one)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8_size(text: str) -> int:
    """Size in UTF-8 bytes; a lone surrogate counts as the 3 bytes it would take."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` (strconv.Quote), so our messages read like Alertmanager's.

    Lone surrogates come out as ``\\udXXX`` (Go would print the bytes of the
    invalid UTF-8), which also keeps the message itself valid UTF-8.  Text
    past MAX_QUOTED_CHARS is cut, and the cut is said after the closing quote.
    """
    shown = text[:MAX_QUOTED_CHARS]
    parts = ['"']
    for char in shown:
        code = ord(char)
        if char in _NAMED_ESCAPES:
            parts.append(_NAMED_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            parts.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF or not char.isprintable():
            parts.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            parts.append(char)
    parts.append('"')
    if len(text) > len(shown):
        parts.append(f"... ({len(text)} characters)")
    return "".join(parts)
