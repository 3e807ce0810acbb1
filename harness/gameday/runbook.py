"""A Markdown runbook's shell steps per failure, and running one step the way an operator's shell would.

Convention (documented in examples/runbooks/README.md): a section for a failure starts at an HTML comment
`<!-- certchaos: NAME[, NAME...] -->` naming game faults (harness.gameday.catalogue) and runs to the next such
comment or the end of the file; its ```sh / ```bash / ```shell blocks are its steps, in order. Prose,
headings and blocks in other languages are for people and are not run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

SHELLS = ("sh", "bash", "shell", "console")
_TAG = re.compile(r"<!--\s*certchaos:\s*([^>]*?)\s*-->")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
OUTPUT_LIMIT = 20_000  # characters of a step's output kept in the journal; a runaway loop must not fill it
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a step's process group (kubectl exits at once)


class RunbookError(HarnessError):
    """The runbook cannot be used for this game: unreadable, or nothing to run for the injected failure."""


@dataclass(frozen=True)
class Step:
    index: int  # 1-based within its failure's section
    line: int  # 1-based line of the opening fence in the file
    language: str
    script: str

    @property
    def title(self) -> str:
        first = next((line.strip() for line in self.script.splitlines() if line.strip()), "")
        return f"step {self.index} (line {self.line}): {first[:80]}"


@dataclass(frozen=True)
class StepResult:
    step: Step
    exit_code: int | None  # None: killed at its timeout
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def parse(text: str) -> dict[str, list[Step]]:
    """Failure name -> its shell steps, in file order. A name tagged twice gets both sections' steps."""
    sections: dict[str, list[Step]] = {}
    current: list[str] = []
    fence: tuple[str, str, int, list[str]] | None = None  # (marker, language, line, body)
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is not None:
            if line.strip().startswith(fence[0]) and not line.strip().strip(fence[0][0]):
                marker, language, start, body = fence
                fence = None
                if language in SHELLS:
                    for name in current:
                        steps = sections.setdefault(name, [])
                        steps.append(Step(len(steps) + 1, start, language, "\n".join(body) + "\n"))
            else:
                fence[3].append(line)
            continue
        opened = _FENCE.match(line)
        if opened:
            fence = (opened.group(2), opened.group(3).lower(), number, [])
            continue
        tag = _TAG.search(line)
        if tag:
            current = [name.strip() for name in tag.group(1).split(",") if name.strip()]
            for name in current:
                sections.setdefault(name, [])
    if fence is not None:
        raise RunbookError(f"line {fence[2]}: code block opened with {fence[0]} is never closed")
    return sections


def load(path: str | os.PathLike) -> dict[str, list[Step]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RunbookError(f"runbook {path}: cannot read it: {error}") from None
    try:
        return parse(text)
    except RunbookError as error:
        raise RunbookError(f"runbook {path}: {error}") from None


def steps_for(runbook: dict[str, list[Step]], fault: str, path: str | os.PathLike) -> list[Step]:
    """The steps for `fault`, or one error naming the fault, the runbook and what it does cover."""
    steps = runbook.get(fault, [])
    if steps:
        return steps
    covered = sorted(name for name, found in runbook.items() if found)
    why = "its section has no ```sh or ```bash block" if fault in runbook else "no section is tagged with it"
    raise RunbookError(f"runbook {path} has no shell step for the failure {fault!r} ({why}; it has steps for: "
                       f"{', '.join(covered) or 'nothing'}). Fix: add a section starting with "
                       f"<!-- certchaos: {fault} --> and a ```sh block; nothing was injected")


def run_step(step: Step, env: dict[str, str], timeout: float, cwd: str | os.PathLike) -> StepResult:
    """Run the step with bash (-e: the first failing command fails the step; -o pipefail), in its own
    process group so a timeout or Ctrl-C takes everything it started with it."""
    started = time.monotonic()
    process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", step.script], cwd=cwd, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        output, code = _kill(process) + f"\n[certchaos: killed after the step timeout of {timeout:g}s]", None
    except BaseException:
        _kill(process)
        raise
    if len(output) > OUTPUT_LIMIT:
        output = output[: OUTPUT_LIMIT // 2] + "\n[... cut ...]\n" + output[-OUTPUT_LIMIT // 2:]
    return StepResult(step, code, output, time.monotonic() - started)


def _kill(process: subprocess.Popen) -> str:
    """SIGTERM, then SIGKILL after KILL_GRACE, to the step's whole process group; what it had printed."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass
        try:
            output, _ = process.communicate(timeout=KILL_GRACE)
            return output or ""
        except subprocess.TimeoutExpired:
            continue
    return ""
