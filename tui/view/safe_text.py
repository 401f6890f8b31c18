"""Make untrusted text (process names, cmdlines, paths) safe to show in a terminal.

Text from other processes or the kernel can be crafted by any local user. It is never parsed as Rich/Textual
markup, and every character that could move the cursor, recolour, retitle or reorder the terminal is replaced
by a visible escape such as ``\\x1b``, ``\\n`` or ``\\u202e``.
"""

from __future__ import annotations

from rich.text import Text

_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

_UNSAFE_RANGES = (
    (0x00, 0x1F),  # C0 controls, including ESC
    (0x7F, 0x9F),  # DEL and C1 controls (CSI, OSC, ST ... as single code points)
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x200E, 0x200F),  # left-to-right / right-to-left marks (bidi)
    (0x2028, 0x2029),  # line and paragraph separators
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2066, 0x2069),  # bidi isolates
    (0xD800, 0xDFFF),  # lone surrogates (undecodable bytes kept by surrogateescape)
)


def _escape_for(code_point: int) -> str:
    character = chr(code_point)
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    if code_point <= 0xFF:
        return f"\\x{code_point:02x}"
    return f"\\u{code_point:04x}"


_ESCAPE_TABLE = {
    code_point: _escape_for(code_point) for first, last in _UNSAFE_RANGES for code_point in range(first, last + 1)
}


def visible(text: str) -> str:
    """Return ``text`` with every control, bidi-override and lone-surrogate character shown as an escape.

    Printable text (including backslashes and markup-like brackets) is returned unchanged.
    """
    if text.isprintable():  # fast path: every escaped character is non-printable
        return text
    return text.translate(_ESCAPE_TABLE)


def plain(text: str, style: str = "") -> Text:
    """A Rich ``Text`` showing ``text`` literally: escaped by :func:`visible`, never parsed as markup."""
    return Text(visible(text), style=style)
