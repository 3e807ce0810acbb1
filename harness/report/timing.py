"""Where a catalogue run's wall time went, read from its journals: a catalogue cannot finish before its longest
scenario, so the figure that matters is the ratio of the two, and what lies outside the longest scenario (lab
start, worker slots left idle in the parallel batch, the exclusive phase, teardown) is what can still be cut."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.report.summary import SKIP_RECORD

EXCLUSIVE_JUNIT = "junit-exclusive.xml"


@dataclass(frozen=True)
class ScenarioSpan:
    name: str  # the report's directory name: <module>.<test>
    node_id: str
    started: float
    ended: float
    exclusive: bool

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class CatalogueTiming:
    began: float
    ended: float
    workers: int
    spans: tuple[ScenarioSpan, ...]
    not_applicable: tuple[str, ...] = ()  # node ids of the scenarios the provider could not run

    @classmethod
    def from_report(cls, report_dir: Path, began: float, ended: float, workers: int) -> CatalogueTiming:
        """Every scenario that ran (has a journal) in `report_dir`; `began`/`ended` are the run's own wall-clock
        bounds (time.time()), which the journals cannot know."""
        exclusive = _exclusive_names(report_dir / EXCLUSIVE_JUNIT)
        spans = []
        for path in sorted(report_dir.glob("*/journal.json")):
            journal = json.loads(path.read_text())
            node = journal["scenario"]["node_id"]  # scenarios/test_x.py::test_y[param]
            module, test = node.split("::", 1)
            spans.append(ScenarioSpan(path.parent.name, node, journal["started_at"], journal["ended_at"] or ended,
                                      (Path(module).stem, test) in exclusive))
        skips = [json.loads(path.read_text()) for path in sorted(report_dir.glob(f"*/{SKIP_RECORD}"))]
        not_applicable = tuple(skip["node_id"] for skip in skips if skip.get("verdict") == "not-applicable")
        return cls(began, ended, workers, tuple(spans), not_applicable)

    @property
    def wall(self) -> float:
        return self.ended - self.began

    @property
    def longest(self) -> ScenarioSpan | None:
        return max(self.spans, key=lambda span: span.seconds, default=None)

    @property
    def ratio(self) -> float:
        return self.wall / self.longest.seconds if self.longest and self.longest.seconds > 0 else float("inf")

    @property
    def longest_queued(self) -> float:
        """How long the longest scenario waited for a worker after the first scenario started: with longest-first
        scheduling this is 0."""
        first = min((span.started for span in self.spans), default=self.began)
        return self.longest.started - first if self.longest else 0.0

    def breakdown(self) -> dict[str, float]:
        """Seconds per part of the run. The first, second and fourth add up to the wall time; the rest say what
        the scenarios' span was made of: the longest scenario, the batch and the second lab (beside the batch: the
        exclusive scenarios, then the share of the batch it took, junit-exclusive.xml), and the batch's lost
        capacity (workers x batch span minus the scenarios' own time)."""
        batch = [span for span in self.spans if not span.exclusive]
        exclusive = [span for span in self.spans if span.exclusive]
        first = min((span.started for span in self.spans), default=self.ended)
        last = max((span.ended for span in self.spans), default=first)
        batch_span = _span(batch)
        return {"lab start and collection": first - self.began,
                "scenarios (first start to last end)": last - first,
                "  of which the longest scenario": self.longest.seconds if self.longest else 0.0,
                "teardown and report": self.ended - last,
                "parallel batch (span)": batch_span,
                "second lab: exclusive scenarios, then its share of the batch (span)": _span(exclusive),
                "idle worker slots": max(0.0, self.workers * batch_span - sum(span.seconds for span in batch))}


def _span(spans: list[ScenarioSpan]) -> float:
    return max(span.ended for span in spans) - min(span.started for span in spans) if spans else 0.0


def _exclusive_names(junit: Path) -> set[tuple[str, str]]:
    """(module stem, test name) of each test the exclusive phase ran."""
    if not junit.exists():
        return set()
    return {(case.get("classname", "").rsplit(".", 1)[-1], case.get("name", ""))
            for case in ET.parse(junit).iter("testcase")}
