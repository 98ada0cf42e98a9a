"""How long-running work tells the person what it is doing: one line at a time (the session writes it live)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]
