"""Swimlane timelines as inline SVG text: lanes of spans and ticks on one time axis, with marked instants.

Written by hand rather than with matplotlib: a few hundred elements per scenario, no dependency, no fonts
to embed, and the output is XML a test can parse (every mark is an element with a class and a <title>,
which a browser shows on hover without JavaScript). Every text goes through `escape`; callers pass raw
strings from journals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape

WIDTH = 1100  # viewBox units; the SVG scales to the page width
LABEL_WIDTH = 190  # room for a lane label such as "CertificateRequest"
LANE_HEIGHT = 22
AXIS_HEIGHT = 36  # mark labels on the first text line, seconds on the second
RIGHT_MARGIN = 20
TITLE_LIMIT = 600  # a hover text longer than this is cut: the journal has it whole


# Characters XML 1.0 forbids (C0 controls but tab/newline/return, lone surrogates, U+FFFE/FFFF): a journal may
# hold them (a DNS name, a process's output) and one of them would make the SVG unparseable or the file unwritable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: object) -> str:
    """XML/HTML-safe text (quotes too, so it may go into an attribute); forbidden characters become U+FFFD."""
    return _xml_escape(_NOT_XML.sub("\ufffd", str(text)), {'"': "&quot;", "'": "&#39;"})


def _title(text: str) -> str:
    text = text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 3] + "..."
    return f"<title>{escape(text)}</title>"


@dataclass(frozen=True)
class Span:
    """Something that lasted: start..end seconds (end None: still going when the journal ended)."""

    start: float
    end: float | None
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    """Something that happened at one instant."""

    at: float
    css: str
    title: str
    tall: bool = False  # drawn full lane height: the ones that matter (a refusal, a Warning, firing)


@dataclass
class Lane:
    label: str
    spans: list[Span] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)


@dataclass(frozen=True)
class Mark:
    """A vertical line across all lanes (time to detect, time to recover)."""

    at: float
    css: str
    label: str


def _nice_step(duration: float) -> float:
    """An axis step of 1, 2 or 5 x 10^n giving at most about 10 gridlines."""
    raw = max(duration, 1e-3) / 10
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(magnitude * factor for factor in (1, 2, 5, 10) if magnitude * factor >= raw)


def swimlanes(lanes: list[Lane], end: float, marks: list[Mark] = (), label: str = "timeline") -> str:
    """One SVG: a label column, a lane per `lanes` entry, a seconds axis from 0 to `end`, and `marks`."""
    end = max(end, 1e-3, *(s.end or s.start for lane in lanes for s in lane.spans),
              *(t.at for lane in lanes for t in lane.ticks), *(m.at for m in marks))
    plot = WIDTH - LABEL_WIDTH - RIGHT_MARGIN
    height = AXIS_HEIGHT + LANE_HEIGHT * len(lanes) + 4

    def x(seconds: float) -> float:
        return round(LABEL_WIDTH + plot * max(0.0, seconds) / end, 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" '
           f'role="img" aria-label="{escape(label)}">']
    step = _nice_step(end)
    tick = 0.0
    while tick <= end + 1e-9:
        out.append(f'<line class="grid" x1="{x(tick)}" y1="{AXIS_HEIGHT - 6}" x2="{x(tick)}" y2="{height}"/>'
                   f'<text class="axis" x="{x(tick)}" y="{AXIS_HEIGHT - 9}">{tick:g}s</text>')
        tick += step
    for index, lane in enumerate(lanes):
        top = AXIS_HEIGHT + index * LANE_HEIGHT
        out.append(f'<g class="lane" data-lane="{escape(lane.label)}">'
                   f'<rect class="band{index % 2}" x="0" y="{top}" width="{WIDTH}" height="{LANE_HEIGHT}"/>'
                   f'<text class="label" x="4" y="{top + LANE_HEIGHT - 7}">{escape(lane.label)}</text>')
        for span in lane.spans:
            left, right = x(span.start), x(end if span.end is None else span.end)
            out.append(f'<rect class="span {escape(span.css)}" x="{left}" y="{top + 4}" '
                       f'width="{max(right - left, 2)}" height="{LANE_HEIGHT - 8}">{_title(span.title)}</rect>')
        for mark in lane.ticks:
            inset = 2 if mark.tall else 7
            out.append(f'<line class="tick {escape(mark.css)}" x1="{x(mark.at)}" y1="{top + inset}" '
                       f'x2="{x(mark.at)}" y2="{top + LANE_HEIGHT - inset}">{_title(mark.title)}</line>')
        out.append("</g>")
    for mark in marks:
        # A label near the right edge runs leftwards, so it is never cut off.
        anchor = "end" if x(mark.at) > LABEL_WIDTH + plot * 0.7 else "start"
        shift = -3 if anchor == "end" else 3
        out.append(f'<g class="mark {escape(mark.css)}"><line x1="{x(mark.at)}" y1="2" '
                   f'x2="{x(mark.at)}" y2="{height}"/><text x="{x(mark.at) + shift}" y="11" text-anchor="{anchor}">'
                   f'{escape(mark.label)}</text>{_title(mark.label)}</g>')
    out.append("</svg>")
    return "".join(out)
