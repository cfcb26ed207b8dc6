"""The one gate for untrusted text (subjects, addresses, errors, headers, payloads).

A plain `str` in a Textual widget is parsed as markup (`[/bold]` raises, `[@click=…]` becomes an
action) and escape sequences pass straight to the terminal. Everything shown from the store or a
provider goes through `safe_text`, which returns a `rich.text.Text` (never parsed as markup) with
dangerous code points replaced by a visible placeholder.
"""

from __future__ import annotations

import re

from rich.text import Text

PLACEHOLDER = "\N{REPLACEMENT CHARACTER}"

# C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: object, *, one_line: bool = False) -> str:
    """Return `value` as a string with control and bidi characters made visible."""
    text = "" if value is None else str(value)
    pattern = _UNSAFE_ONE_LINE if one_line else _UNSAFE
    return pattern.sub(PLACEHOLDER, text)


def safe_text(
    value: object, *, style: str = "", one_line: bool = True, max_len: int | None = None
) -> Text:
    """Untrusted text as a `Text` that is displayed literally, never interpreted."""
    text = clean(value, one_line=one_line)
    if max_len is not None and len(text) > max_len:
        text = text[: max(0, max_len - 1)] + "…"
    return Text(text, style=style, no_wrap=one_line, end="")
