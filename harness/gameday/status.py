"""The live status the team watches: elapsed time, their marks, the system's health as the harness sees it
(never the fault's name). On a terminal a rich Live panel; without one (pipes, CI, tests) a plain line
whenever something shown changed."""

from __future__ import annotations

import json
import sys
from typing import TextIO


def _health_lines(health) -> list[str]:
    if isinstance(health, dict):
        return [f"{key}: {value}" for key, value in health.items()]
    return [str(health)]


def plain_line(snapshot: dict) -> str:
    recovered = snapshot.get("recovered_after")
    state = f"recovered at +{recovered:.0f}s" if recovered is not None else "not recovered"
    return (f"[status +{snapshot['elapsed']:.0f}s of {snapshot['deadline']:.0f}s] {state}; "
            f"health: {'; '.join(_health_lines(snapshot['health']))}; marks: {', '.join(snapshot['marks']) or 'none'}")


class PlainBoard:
    """A line per change (elapsed time alone is no change), for pipes and logs."""

    def __init__(self, out: TextIO | None = None):
        self.out = out  # None: sys.stdout at the time of printing
        self._last: str | None = None

    def __enter__(self) -> "PlainBoard":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def show(self, snapshot: dict) -> None:
        key = json.dumps([snapshot["health"], snapshot["marks"], snapshot.get("recovered_after")], default=str)
        if key != self._last:
            self._last = key
            print(plain_line(snapshot), file=self.out or sys.stdout, flush=True)

    def say(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)


class LiveBoard:
    """rich's Live panel, refreshed by show(); say() prints above it."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self) -> "LiveBoard":
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def show(self, snapshot: dict) -> None:
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        recovered = snapshot.get("recovered_after")
        table.add_row("elapsed", f"{snapshot['elapsed']:.0f}s of {snapshot['deadline']:.0f}s")
        table.add_row("system", "[green]recovered[/] at +%.0fs" % recovered if recovered is not None
                      else "[red]not recovered[/]")
        for line in _health_lines(snapshot["health"]):
            key, _, value = line.partition(": ")
            table.add_row(key, value)
        table.add_row("your marks", ", ".join(snapshot["marks"]) or "none")
        self.live.update(Panel(table, title="certchaos game day", subtitle="ack | note TEXT | fixed | reveal | quit"),
                         refresh=True)

    def say(self, text: str) -> None:
        self.live.console.print(text, markup=False, highlight=False)


def make_board(stream: TextIO | None = None):
    stream = stream or sys.stdout
    return LiveBoard() if stream.isatty() else PlainBoard(stream)
