"""Failure trend: attempts and failure rate per hour (24 h) or per day (7 days), and the failures
split by error code — plotext charts, with the figures also written as text (NO_COLOR, SSH)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from mailconsole.context import AppContext
from mailconsole.screens.base import MailconsoleScreen
from mailconsole.services import metrics
from mailconsole.services.metrics import Trend
from mailconsole.widgets.timefmt import percent

TOP_CODES = 4
# One distinct colour per stacked series (plotext's own cycle repeats within five).
CODE_COLORS = ("red", "cyan", "yellow", "green", "white")


def load_trend(ctx: AppContext, window: str) -> Trend:
    if window == "7d":
        return metrics.failure_trend(ctx, days=7)
    return metrics.failure_trend(ctx, hours=24)


def tick_labels(trend: Trend) -> list[str]:
    if trend.unit == "day":
        return [b.start.strftime("%a %d") for b in trend.buckets]
    return [b.start.strftime("%H") for b in trend.buckets]


def code_series(trend: Trend, top: int = TOP_CODES) -> dict[str, list[int]]:
    """Failures per bucket for the top codes of the window, the rest as `other`."""
    codes = list(trend.by_error_code)[:top]
    series = {code: [b.by_error_code.get(code, 0) for b in trend.buckets] for code in codes}
    rest = [b.failed - sum(b.by_error_code.get(c, 0) for c in codes) for b in trend.buckets]
    if any(rest):
        series["other"] = rest
    return series


def summary_text(trend: Trend) -> Text:
    span = "7 days" if trend.unit == "day" else "24 h"
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"{span}: ", style="bold")
    out.append(f"{trend.attempts:,} attempts · {trend.failed:,} failed ({percent(trend.rate, 2)})")
    if trend.by_error_code:
        top = list(trend.by_error_code.items())[:TOP_CODES]
        out.append(" · top: ")
        out.append(", ".join(f"{code} {n:,}" for code, n in top))
    return out


class TrendScreen(MailconsoleScreen):
    """Failure rate and volume, per hour or per day, by error code."""

    SCREEN_TITLE = "Failure trend"
    AUTO_REFRESH = True
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "toggle_window", "24h/7d", id="trend.window"),
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    window: reactive[str] = reactive("24h", init=False)
    """The span shown: `24h` (hourly buckets) or `7d` (daily buckets)."""

    def __init__(self) -> None:
        super().__init__()
        self.trend: Trend | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static(Text("loading…", style="dim"), id="trend-summary")
        with Vertical(id="trend-charts"):
            yield PlotextPlot(id="volume-plot")
            yield PlotextPlot(id="codes-plot")

    def reload(self) -> None:
        self.load(load_trend, self.window, done=self.show_trend)

    def watch_window(self) -> None:
        self.reload()

    def action_toggle_window(self) -> None:
        self.window = "7d" if self.window == "24h" else "24h"

    def show_trend(self, trend: Trend) -> None:
        self.trend = trend
        self.query_one("#trend-summary", Static).update(summary_text(trend))
        labels = tick_labels(trend)
        xs = list(range(1, len(trend.buckets) + 1))
        step = 1 if trend.unit == "day" else 3
        ticks = xs[::step], labels[::step]
        unit = "day" if trend.unit == "day" else "hour"

        volume = self.query_one("#volume-plot", PlotextPlot)
        plt = volume.plt
        plt.clear_figure()
        plt.title(f"Attempts per {unit} (bars) and failure rate % (line, right axis)")
        plt.bar(xs, [b.attempts for b in trend.buckets], marker="sd", width=0.6, label="attempts")
        plt.plot(
            xs,
            [round(b.rate * 100, 2) for b in trend.buckets],
            yside="right",
            marker="braille",
            label="fail %",
        )
        plt.xticks(*ticks)
        volume.refresh()

        codes = self.query_one("#codes-plot", PlotextPlot)
        plt = codes.plt
        plt.clear_figure()
        series = code_series(trend)
        plt.title(f"Failed attempts per {unit} by error code")
        if series:
            names = list(series)
            plt.stacked_bar(
                xs,
                [series[n] for n in names],
                labels=names,
                color=list(CODE_COLORS[: len(names)]),
                width=0.6,
            )
        else:
            plt.bar(xs, [0] * len(xs), label="no failures")
        plt.xticks(*ticks)
        codes.refresh()
