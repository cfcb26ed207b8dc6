"""Reusable widgets: dumb (data in through reactives or arguments, a message out, no I/O).

- `app_header.AppHeader`: the header of every screen (tabs, READ-ONLY badge).
- `dialogs.ConfirmDialog`, `dialogs.TypedConfirmDialog`: confirm before any change.
- `health_card.HealthCard`, `health_card.CardData`: one Dashboard figure with its level.
- `sparkline.sparkline`: a text sparkline.
- `timefmt`: times relative to the injected clock.
"""
