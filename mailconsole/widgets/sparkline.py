"""A one-line sparkline as text: block characters need no colour to be read."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(
    values: Sequence[float], *, width: int | None = None, top: float | None = None
) -> str:
    """One block per value (the last `width` values), scaled to `top` (default: the maximum).

    All-zero input draws the lowest block everywhere, so "no failures" is visible as a flat line.
    """
    data = list(values)[-width:] if width else list(values)
    if not data:
        return ""
    peak = top if top is not None else max(data)
    if peak <= 0:
        return BLOCKS[0] * len(data)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, max(0, round(v / peak * last)))] for v in data)
