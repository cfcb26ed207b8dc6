"""The command palette (`ctrl+p` or `:`): every screen, and every action of every screen.

Entries come from the screen registry and from each screen class's `BINDINGS` (those with a
description), so a screen's actions show up here without any extra code. Choosing an action of
another screen switches to it first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from mailconsole.screens import ScreenSpec, ordered

if TYPE_CHECKING:
    from textual.app import App


@dataclass(frozen=True)
class PaletteEntry:
    text: str
    help: str
    mode: str | None  # switch to this mode first (None: an app-wide action)
    action: str | None  # then run this action on the screen (None: only switch)


def _bindings_of(cls: type) -> Iterator[Binding]:
    seen: set[str] = set()
    for klass in cls.__mro__:
        for item in klass.__dict__.get("BINDINGS", ()):
            if not isinstance(item, Binding):
                continue
            key = item.id or item.action
            if key in seen:
                continue
            seen.add(key)
            yield item


def screen_actions(spec: ScreenSpec) -> list[PaletteEntry]:
    """The described actions of one screen (importing its module)."""
    try:
        cls = spec.load()
    except Exception:
        return []
    entries = []
    for binding in _bindings_of(cls):
        if not binding.description or binding.action.startswith("switch_mode"):
            continue
        entries.append(
            PaletteEntry(
                text=f"{spec.title}: {binding.description}",
                help=binding.tooltip or f"key {binding.key}",
                mode=spec.mode,
                action=binding.action,
            )
        )
    return entries


def palette_entries() -> list[PaletteEntry]:
    specs = ordered()
    entries = [
        PaletteEntry(f"Go to {s.title}", s.help or f"key {s.key}", s.mode, None) for s in specs
    ]
    entries.append(PaletteEntry("Show keys", "the bindings of this screen (?)", None, "app.help"))
    for spec in specs:
        entries.extend(screen_actions(spec))
    return entries


def known_binding_ids(app: App[Any]) -> set[str]:
    """Every binding id a user may remap in [ui.keymap]."""
    ids = {b.id for b in _bindings_of(type(app)) if b.id}
    for spec in ordered():
        ids.add(spec.binding_id)
        try:
            cls = spec.load()
        except Exception:
            continue
        ids.update(b.id for b in _bindings_of(cls) if b.id)
    from mailconsole.widgets.dialogs import TypedConfirmDialog

    ids.update(b.id for b in _bindings_of(TypedConfirmDialog) if b.id)
    return ids


async def run_entry(app: App[Any], entry: PaletteEntry) -> None:
    if entry.mode is not None and entry.mode != app.current_mode:
        await app.switch_mode(entry.mode)
    if entry.action is None:
        return
    if entry.action.startswith("app."):
        await app.run_action(entry.action)
    else:
        await app.screen.run_action(entry.action)


class MailconsoleCommands(Provider):
    """Screens and actions for Textual's command palette."""

    async def startup(self) -> None:
        self._entries = palette_entries()

    def _command(self, entry: PaletteEntry) -> Callable[[], Any]:
        return partial(run_entry, self.app, entry)

    async def discover(self) -> Hits:
        for entry in self._entries:
            yield DiscoveryHit(entry.text, self._command(entry), help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries:
            score = matcher.match(entry.text)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(entry.text), self._command(entry), help=entry.help
                )


__all__ = ["MailconsoleCommands", "PaletteEntry", "known_binding_ids", "palette_entries"]
