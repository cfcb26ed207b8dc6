"""mailconsole: a terminal operations console and delivery engine for outbound email."""

__version__ = "0.1.0"
