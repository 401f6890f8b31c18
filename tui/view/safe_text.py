"""Make untrusted text (process names, cmdlines, paths) safe to show in a terminal.

Text from other processes or the kernel can be crafted by any local user. It is never parsed as Rich/Textual
markup, and every character that could move the cursor, recolour, retitle, reorder the terminal or hide in it
(zero-width and other format characters) is replaced by a visible escape such as ``\\x1b``, ``\\n``,
``\\u202e`` or ``\\u200b``. A byte that was not UTF-8 (kept by surrogateescape as U+DC80..U+DCFF) is shown as
the byte it was: ``\\xff``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

_UNSAFE_RANGES = (
    (0x00, 0x1F),  # C0 controls, including ESC
    (0x7F, 0x9F),  # DEL and C1 controls (CSI, OSC, ST ... as single code points)
    (0x2028, 0x2029),  # line and paragraph separators
    (0xD800, 0xDFFF),  # lone surrogates (undecodable bytes kept by surrogateescape)
    # Format characters (Unicode category Cf): bidi marks, embeddings, overrides and isolates, zero-width
    # spaces and joiners, invisible operators, byte order mark, tags ...
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
"""Every code point of categories Cc, Cf, Zl, Zp and Cs (a test checks this list against ``unicodedata``).
None of them is printable, which :func:`visible`'s fast path relies on."""

_SURROGATE_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def _escape_for(code_point: int) -> str:
    character = chr(code_point)
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    if code_point in _SURROGATE_ESCAPED_BYTES:
        return f"\\x{code_point - 0xDC00:02x}"
    if code_point <= 0xFF:
        return f"\\x{code_point:02x}"
    if code_point <= 0xFFFF:
        return f"\\u{code_point:04x}"
    return f"\\U{code_point:08x}"


@cache
def _escape_table() -> dict[int, str]:
    """Every unsafe code point -> its escape (2,285 entries): built on the first text that needs it, which most
    runs never meet (building it cost every ``--once`` ~2 ms)."""
    return {
        code_point: _escape_for(code_point) for first, last in _UNSAFE_RANGES for code_point in range(first, last + 1)
    }


def visible(text: str) -> str:
    """Return ``text`` with every control, format, line-separator and lone-surrogate character shown as an escape.

    Printable text (including backslashes and markup-like brackets) is returned unchanged.
    """
    if text.isprintable():  # fast path: every escaped character is non-printable
        return text
    return text.translate(_escape_table())


def plain(text: str, style: str = "") -> Text:
    """A Rich ``Text`` showing ``text`` literally: escaped by :func:`visible`, never parsed as markup."""
    from rich.text import Text  # here only: the script outputs use visible() without importing Rich

    return Text(visible(text), style=style)
