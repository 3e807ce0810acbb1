"""Coverage of cert-manager by the scenario catalogue: an instrumented build, the run's counters, their reading.

Nobody could say which parts of cert-manager the catalogue executes; a mutant of a line it never runs can only
survive. `go build -cover -coverpkg=<module>/...` (Go >= 1.20) makes the controller, webhook and cainjector
count the statements of cert-manager they run. Go writes a process's counters into $GOCOVERDIR when it exits
normally (main returning or os.Exit, which cert-manager's exit handler does on SIGTERM, how the lab stops its
processes); a SIGKILLed process writes nothing, so the build adds a snapshot every FLUSH_EVERY seconds.

The build goes to $CERTCHAOS_CACHE/coverage/cert-manager-<version>-<inputs hash>/, a valid --bin-dir as a
mutant's is: it holds only the three instrumented binaries; the other components, the CRDs and the chart come
from the normal cache (binaries.resolve, certmanager.crd_dir/chart_dir fall back to it). `go tool covdata` merges the
snapshots and turns them into per-package percentages and per-statement blocks (textfmt); `go tool cover
-func`, run in the wrapper module so it finds the pinned source, names the functions the blocks belong to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from harness.errors import HarnessError
from harness.mutants import generate, runner
from harness.mutants.build import (MODULE, WRAPPER, _go, alternate_modfile, copy_source, pristine_source,
                                   source_version)
from harness.stack import binaries

COMPONENTS = ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector")
COVERPKG = f"{MODULE}/..."  # every cert-manager package the three binaries link, not only the claimed ones
# runtime/coverage.WriteCountersDir (the periodic flush below) refuses any other mode. Counts are then sums
# of cumulative snapshots: only executed-or-not is meaningful, all the report and the mutants' seam use.
COVERMODE = "atomic"
# Go writes counters only at a normal exit, and the catalogue SIGKILLs controllers (ControllerKilled; the
# supervisor's restarted pod dies with its thread when the lab stops). So each instrumented binary also
# snapshots its counters every FLUSH_EVERY seconds: a SIGKILL loses at most the last few seconds.
FLUSH_EVERY = 5  # seconds: what a SIGKILL may lose; a few KB per process per snapshot, merged after the run
FLUSH_FILE = "zz_certchaos_coverage_flush.go"  # added to each command's main package in the copied source
# Each process snapshots into a directory of its own, process.<start, Unix ns>.<pid>, with its meta-data: two
# processes of one binary may share a pid (the webhook is pid 6 in its netjail's PID namespace, in each lab), and
# the attribution to scenarios (attribution.py) needs each process's snapshots in order, from its start.
PROCESS_DIR = "process"
FLUSH_GO = f"""// Added by certchaos's coverage build (harness/mutants/coverage.py): counters snapshotted every
// {FLUSH_EVERY} s into $GOCOVERDIR/{PROCESS_DIR}.<start>.<pid>/, so a SIGKILLed process leaves what it ran, and when.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/coverage"
	"time"
)

func init() {{
	dir := os.Getenv("GOCOVERDIR")
	if dir == "" {{
		return
	}}
	own := filepath.Join(dir, fmt.Sprintf("{PROCESS_DIR}.%d.%d", time.Now().UnixNano(), os.Getpid()))
	if os.Mkdir(own, 0o755) != nil {{
		return
	}}
	go func() {{
		meta := false // written once the runtime has its meta-data (it does by the first tick)
		for range time.Tick({FLUSH_EVERY} * time.Second) {{
			meta = meta || coverage.WriteMetaDir(own) == nil
			if meta {{
				_ = coverage.WriteCountersDir(own)
			}}
		}}
	}}()
}}
"""
MIN_GO = (1, 20)  # the first Go whose `go build -cover` instruments programs, not only tests
MANIFEST = "coverage-build.json"
GOCOVERDIR = "GOCOVERDIR"
# The packages whose behaviour the catalogue claims (the mutant generator's, relative to the module root),
# plus the key manager (the certificates controllers' private keys) and where the webhook's validation is
# called from in v1.11.5: the resourcevalidation admission plugin and the webhook's admission chain.
PACKAGES: dict[str, str] = {
    **{name: path for name, (path, _) in generate.PACKAGES.items()},
    "keymanager": "pkg/controller/certificates/keymanager",
    "resourcevalidation": "internal/plugin/admission/resourcevalidation",
    "webhook-admission": "pkg/webhook/admission",
}
# The whole catalogue takes ~10 min on local (README); instrumented binaries on two cores shared with other
# runs take longer. Past this the run is stopped (its lab stops its processes, which write their counters).
RUN_TIMEOUT = 60 * 60
TOOL_TIMEOUT = 600  # seconds for one `go tool covdata/cover` call: ~10 s here, a cold tool build takes longer


# -- the instrumented build ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    bin_dir: Path
    seconds: float  # build time now; 0 when it came from the cache
    cached: bool


def go_version(go: str) -> tuple[int, int]:
    """(major, minor) of the Go toolchain `go`, from `go env GOVERSION` (e.g. go1.26.8)."""
    said = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", said)
    if not found:
        raise HarnessError(f"cannot tell the Go version: `go env GOVERSION` said {said!r}. Fix: install Go >= "
                           f"{MIN_GO[0]}.{MIN_GO[1]} and put it first on PATH")
    return int(found.group(1)), int(found.group(2))


def require_go() -> str:
    """`go`, new enough for `go build -cover` of a program; else one error naming the fix."""
    go = _go()
    version = go_version(go)
    if version < MIN_GO:
        raise HarnessError(f"Go {version[0]}.{version[1]} is too old for `go build -cover` of a program (needs >= "
                           f"{MIN_GO[0]}.{MIN_GO[1]}). Fix: install Go >= 1.25, the harness's own minimum")
    return go


def _ldflags(version: str) -> str:
    """The wrapper's version stamps, the version marked `-coverage`: `doctor` and the journals show which
    build ran (as a mutant's stamp names the mutant)."""
    stamps = binaries._versions().get("modules", {}).get("cert-manager", {}).get("ldflags", [])
    return " ".join(f"-X {stamp}-coverage" if stamp.endswith(version) else f"-X {stamp}" for stamp in stamps)


def inputs_hash(go: str, version: str) -> str:
    """What the build depends on: the source version, the wrapper's go.mod and go.sum, the flags, the flush
    file and Go."""
    digest = hashlib.sha256()
    for part in (version, COVERPKG, COVERMODE, FLUSH_GO, _ldflags(version), subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout.strip(),
                 (WRAPPER / "go.mod").read_text(), (WRAPPER / "go.sum").read_text()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]  # 48 bits: a cache key, not a signature


def coverage_dir(go: str, version: str | None = None) -> Path:
    version = version or source_version()
    return binaries.cache_dir() / "coverage" / f"cert-manager-{version}-{inputs_hash(go, version)}"


def is_built(folder: Path) -> bool:
    return (folder / MANIFEST).is_file() and all(os.access(folder / name, os.X_OK) for name in COMPONENTS)


def add_flush(copy: Path, packages: Iterable[str]) -> None:
    """FLUSH_GO into the main package of each command (import paths under the module) of the copied source."""
    for package in packages:
        folder = copy / package.removeprefix(MODULE + "/")
        (folder / FLUSH_FILE).write_text(FLUSH_GO)


def build(*, force: bool = False, out: TextIO | None = None) -> Built:
    """The instrumented bin dir, built now unless cached; HarnessError naming the command when go fails.
    As a mutant is built: a copy of the pinned module (here with the flush file added) replaced in through
    an alternate go.mod, so the wrapper's dependency graph stays as it is."""
    out = out or sys.stderr
    go = require_go()
    version = source_version()
    target = coverage_dir(go, version)
    if is_built(target) and not force:
        print(f"coverage build: cached -> {target}", file=out, flush=True)
        return Built(target, 0.0, cached=True)
    components = binaries.load_components()
    packages = [components[name].package for name in COMPONENTS]
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as scratch_name:
        scratch = Path(scratch_name)
        copy = copy_source(pristine_source(go, version), scratch / "cert-manager")
        add_flush(copy, packages)
        staged = scratch / "out"
        staged.mkdir()
        command = [go, "build", "-v", f"-modfile={alternate_modfile(scratch, copy)}", "-cover",
                   f"-covermode={COVERMODE}", f"-coverpkg={COVERPKG}", "-trimpath", "-ldflags", _ldflags(version),
                   "-o", str(staged) + "/", *packages]
        print(f"coverage build: {', '.join(COMPONENTS)} of cert-manager {version}, instrumented ({COVERPKG})",
              file=out, flush=True)
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly")
        returncode = binaries.go_build_with_progress(command, WRAPPER, env, out, label="coverage build")
        if returncode != 0:
            raise HarnessError(f"coverage build failed (go exit {returncode}); the output above says why. Command: "
                               f"{' '.join(command)} in {WRAPPER}")
        for name, package in zip(COMPONENTS, packages):
            shutil.move(staged / binaries.go_binary_name(package), staged / name)
        seconds = time.monotonic() - started
        (staged / MANIFEST).write_text(json.dumps({
            "source": f"{MODULE}@{version}", "coverpkg": COVERPKG, "covermode": COVERMODE, "flush_every": FLUSH_EVERY,
            "go": ".".join(map(str, go_version(go))), "binaries": list(COMPONENTS), "build_seconds": round(seconds, 1),
        }, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)  # same filesystem: the cache never holds a half-written build
    print(f"coverage build: built in {seconds:.0f}s -> {target}", file=out, flush=True)
    return Built(target, seconds, cached=False)


# -- the catalogue's run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """os.environ with `values` set inside: the runner's child (`certchaos run`) and, through it, the local
    provider's processes (ManagedProcess merges os.environ) inherit them."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_catalogue(bin_dir: Path, counters: Path, report_dir: Path, *, keyword: str | None, workers: int,
                  timeout: float = RUN_TIMEOUT) -> tuple[int | None, float]:
    """`certchaos run --bin-dir <instrumented>` with GOCOVERDIR=counters, as a mutant's run is made;
    (exit code or None on timeout, seconds)."""
    counters.mkdir(parents=True, exist_ok=True)
    if any(counters.iterdir()):
        raise HarnessError(f"{counters} already holds coverage counters: a run would add to them. Fix: give a new "
                           f"--report-dir")
    with environment(**{GOCOVERDIR: str(counters.resolve())}):
        return runner.run_scenarios(bin_dir, keyword, report_dir, workers=workers, timeout=timeout)


def process_dirs(counters: Path) -> list[Path]:
    """Each instrumented process's directory (FLUSH_GO makes it at the start: empty if the process died before its
    first snapshot), by start time."""
    return sorted((path for path in counters.glob(f"{PROCESS_DIR}.*.*")
                   if path.is_dir() and re.fullmatch(rf"{PROCESS_DIR}\.\d+\.\d+", path.name)),
                  key=lambda path: int(path.name.split(".")[1]))


def counter_files(counters: Path) -> list[Path]:
    """The covcounters files: exit-time writes (in GOCOVERDIR itself, beside a covmeta file per distinct binary)
    and each process's snapshots."""
    return sorted([*counters.glob("covcounters.*"), *counters.glob(f"{PROCESS_DIR}.*/covcounters.*")])


def written_by(path: Path) -> tuple[str, str]:
    """(meta hash, pid) of a counters file: covcounters.<meta hash>.<pid>.<Unix ns>."""
    _, meta, pid, _ = path.name.split(".")
    return meta, pid


def processes(counters: Path) -> int:
    """How many processes wrote counters: a directory each for those that lived to a snapshot, and the others
    (exited within FLUSH_EVERY, e.g. a `--version`) by the meta hash and pid of their exit-time write."""
    firsts = [next(folder.glob("covcounters.*"), None) for folder in process_dirs(counters)]
    snapshotted = [written_by(path) for path in firsts if path is not None]
    exited = {written_by(path) for path in counters.glob("covcounters.*")}
    return len(snapshotted) + len(exited - set(snapshotted))


def merge(go: str, counters: Path, merged: Path) -> None:
    """The snapshots (hundreds per run) and exit-time writes merged into one counters file per binary in `merged`
    (`covdata merge`); `counters` stays as it is, for the attribution to scenarios."""
    shutil.rmtree(merged, ignore_errors=True)
    merged.mkdir(parents=True)
    inputs = ",".join(str(folder) for folder in [counters, *process_dirs(counters)])
    _tool(go, ["covdata", "merge", "-i", inputs, "-o", str(merged)], "merging coverage counters")


# -- reading the profile ---------------------------------------------------------------------------------


def full_path(path: str) -> str:
    """A file or package as the profile names it (import path): a module-relative one (pkg/util/pki, no dot in
    its first element, as an import path's domain has) is cert-manager's."""
    return path if "." in path.split("/", 1)[0] else f"{MODULE}/{path.lstrip('/')}"


def relative_path(path: str) -> str:
    return path.removeprefix(MODULE + "/")


@dataclass(frozen=True)
class Block:
    """One basic block of a textfmt profile: file:startLine.startCol,endLine.endCol statements count."""

    file: str
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    statements: int
    count: int

    @property
    def package(self) -> str:
        return self.file.rsplit("/", 1)[0]


_BLOCK = re.compile(r"^(?P<file>.+):(?P<sl>\d+)\.(?P<sc>\d+),(?P<el>\d+)\.(?P<ec>\d+) (?P<n>\d+) (?P<count>\d+)$")


def parse_textfmt(text: str) -> tuple[str, list[Block]]:
    """(mode, blocks) of a `go tool covdata textfmt` / `go test -coverprofile` profile. A block listed twice
    (two binaries, or two runs) is one block whose count is their sum: executed if either ran it."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("mode: "):
        raise HarnessError("not a coverage profile: the first line should be `mode: set|count|atomic`. Fix: give the "
                           "file `go tool covdata textfmt -o` wrote")
    merged: dict[tuple, Block] = {}
    for number, line in enumerate(lines[1:], start=2):
        found = _BLOCK.match(line.strip())
        if not found:
            raise HarnessError(f"coverage profile line {number} is not a block: {line!r}")
        block = Block(found["file"], int(found["sl"]), int(found["sc"]), int(found["el"]), int(found["ec"]),
                      int(found["n"]), int(found["count"]))
        key = (block.file, block.start_line, block.start_col, block.end_line, block.end_col)
        if key in merged:
            block = Block(*key, block.statements, merged[key].count + block.count)
        merged[key] = block
    return lines[0].split(":", 1)[1].strip(), list(merged.values())


_PERCENT = re.compile(r"^\s*(?P<package>\S+)\s+coverage:\s+(?:(?P<percent>[\d.]+)% of statements|\[no statements\])")


def parse_percent(text: str) -> dict[str, float | None]:
    """`go tool covdata percent` output -> {package import path: percent (None: no statements)}."""
    result = {}
    for line in text.splitlines():
        found = _PERCENT.match(line)
        if found:
            result[found["package"]] = float(found["percent"]) if found["percent"] is not None else None
    return result


@dataclass(frozen=True)
class Function:
    """A function as `go tool cover -func` lists it (its first line), with the statements of its blocks."""

    file: str
    line: int
    name: str
    statements: int = 0
    executed: int = 0  # statements in blocks that ran


_FUNC = re.compile(r"^(?P<file>.+?):(?P<line>\d+):\s+(?P<name>\S+)\s+(?P<percent>[\d.]+)%$")


def parse_func(text: str) -> list[tuple[str, int, str]]:
    """`go tool cover -func` output -> [(file, first line, function name)]; the `total:` line is not one."""
    return [(found["file"], int(found["line"]), found["name"])
            for found in map(_FUNC.match, text.splitlines()) if found]


def functions(listing: Iterable[tuple[str, int, str]], blocks: Iterable[Block]) -> list[Function]:
    """Each listed function with the statements of the blocks from its first line up to the next function
    of its file (a package-level func literal counts toward the function before it)."""
    starts: dict[str, list[tuple[int, str]]] = {}
    for file, line, name in listing:
        starts.setdefault(file, []).append((line, name))
    totals: dict[tuple[str, int], list[int]] = {}
    for block in blocks:
        owners = [line for line, _ in starts.get(block.file, []) if line <= block.start_line]
        if owners:
            total = totals.setdefault((block.file, max(owners)), [0, 0])
            total[0] += block.statements
            total[1] += block.statements if block.count else 0
    result = []
    for file, entries in starts.items():
        for line, name in sorted(entries):
            statements, executed = totals.get((file, line), (0, 0))
            result.append(Function(file, line, name, statements, executed))
    return sorted(result, key=lambda f: (f.file, f.line))


def never_reached(found: Iterable[Function]) -> list[Function]:
    """Functions with statements none of which ran (an empty function is not "never reached": nothing to run)."""
    return [function for function in found if function.statements and not function.executed]


@dataclass(frozen=True)
class Tally:
    statements: int
    executed: int

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.executed / self.statements, 1) if self.statements else None


def tally(blocks: Iterable[Block]) -> Tally:
    blocks = list(blocks)
    return Tally(sum(b.statements for b in blocks), sum(b.statements for b in blocks if b.count))


class Profile:
    """A textfmt profile, indexed by file: which lines ran."""

    def __init__(self, blocks: Iterable[Block], mode: str = COVERMODE):
        self.mode = mode
        self.blocks = list(blocks)
        self._by_file: dict[str, list[Block]] = {}
        for block in self.blocks:
            self._by_file.setdefault(block.file, []).append(block)

    @classmethod
    def parse(cls, text: str) -> "Profile":
        mode, blocks = parse_textfmt(text)
        return cls(blocks, mode)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Profile":
        return cls.parse(Path(path).read_text())

    def executed(self, file: str, line: int) -> bool | None:
        """Whether the run executed `line` of `file` (module-relative, e.g. pkg/util/pki/csr.go, or the import
        path): True when a block with statements touching the line ran, False when such blocks exist and none
        ran, None when no block touches it (a comment, a declaration: nothing there to execute). A line shared
        by two blocks (`if x {`: the condition's and the body's) counts as executed when either ran, so a mutant
        of an unexecuted line can be skipped without ever skipping one that ran."""
        touching = [block for block in self._by_file.get(full_path(file), ())
                    if block.statements and block.start_line <= line <= block.end_line]
        if not touching:
            return None
        return any(block.count for block in touching)

    def package_blocks(self, package: str) -> list[Block]:
        """The blocks of one package directory (not its sub-packages)."""
        wanted = full_path(package)
        return [block for block in self.blocks if block.package == wanted]

    def text(self, packages: Iterable[str] | None = None) -> str:
        """The profile as textfmt again, only `packages` when given (what `go tool cover` reads)."""
        wanted = {full_path(p) for p in packages} if packages is not None else None
        lines = [f"mode: {self.mode}"]
        for b in self.blocks:
            if wanted is None or b.package in wanted:
                lines.append(f"{b.file}:{b.start_line}.{b.start_col},{b.end_line}.{b.end_col} {b.statements} {b.count}")
        return "\n".join(lines) + "\n"


def line_executed(profile_path: str | os.PathLike, file: str, line: int) -> bool | None:
    """The mutants' seam: did the coverage run in `profile_path` (a textfmt file, e.g. a coverage report's
    cov.txt) execute `file`:`line`? See Profile.executed (load the Profile once when asking many times)."""
    return Profile.load(profile_path).executed(file, line)


# -- the Go tools ----------------------------------------------------------------------------------------


def _tool(go: str, args: list[str], what: str, cwd: Path = WRAPPER) -> str:
    env = dict(os.environ, GOFLAGS="-mod=readonly")
    env.pop(GOCOVERDIR, None)
    result = subprocess.run([go, "tool", *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT)
    if result.returncode != 0:
        raise HarnessError(f"{what}: `go tool {' '.join(args)}` failed (exit {result.returncode}): "
                           f"{(result.stdout + result.stderr).strip()[-800:]}")
    return result.stdout


def covdata_percent(go: str, counters: Path, packages: Iterable[str]) -> dict[str, float | None]:
    listing = ",".join(full_path(p) for p in packages)
    return parse_percent(_tool(go, ["covdata", "percent", "-i", str(counters), "-pkg", listing], "coverage percent"))


def covdata_textfmt(go: str, counters: Path, output: Path) -> Profile:
    _tool(go, ["covdata", "textfmt", "-i", str(counters), "-o", str(output)], "coverage profile")
    return Profile.load(output)


def function_listing(go: str, profile: Profile, packages: Iterable[str], scratch: Path,
                     module_dir: Path = WRAPPER) -> list[tuple[str, int, str]]:
    """`go tool cover -func` over the blocks of `packages`, in the wrapper module: it finds the pinned source
    through the module's dependency graph (the module cache), no copy needed."""
    path = scratch / "cov-claimed.txt"
    path.write_text(profile.text(packages))
    return parse_func(_tool(go, ["cover", f"-func={path}"], "function coverage", cwd=module_dir))


# -- the report ------------------------------------------------------------------------------------------


@dataclass
class Result:
    """What coverage.json holds (schema certchaos.coverage/v1)."""

    source: str
    packages: dict[str, dict] = field(default_factory=dict)  # short name -> path, statements, executed, percent
    claimed: dict = field(default_factory=dict)  # the claimed packages together
    module: dict = field(default_factory=dict)  # every cert-manager package the three binaries link
    never_reached: list[dict] = field(default_factory=list)  # functions of the claimed packages
    run: dict = field(default_factory=dict)  # keyword, exit code, seconds, build, processes that wrote counters
    schema: str = "certchaos.coverage/v1"


def analyse(go: str, counters: Path, report_dir: Path, run: dict) -> Result:
    """Per-package percentages (covdata percent, checked against the blocks), totals, the functions of the
    claimed packages never reached; writes cov.txt (the whole profile) to report_dir."""
    if not counter_files(counters):
        raise HarnessError(f"no coverage counters in {counters}: no instrumented process exited normally (a SIGKILLed "
                           f"one writes none) or GOCOVERDIR did not reach them. Fix: see the run's run.log and "
                           f"lab/ logs in {report_dir}")
    percents = covdata_percent(go, counters, PACKAGES.values())
    profile = covdata_textfmt(go, counters, report_dir / "cov.txt")
    result = Result(source=f"{MODULE}@{source_version()}", run=run)
    for name, path in PACKAGES.items():
        counted = tally(profile.package_blocks(path))
        result.packages[name] = {"path": path, "statements": counted.statements, "executed": counted.executed,
                                 "percent": percents.get(full_path(path), counted.percent)}
    claimed = tally(b for path in PACKAGES.values() for b in profile.package_blocks(path))
    whole = tally(profile.blocks)
    result.claimed = {"statements": claimed.statements, "executed": claimed.executed, "percent": claimed.percent}
    result.module = {"statements": whole.statements, "executed": whole.executed, "percent": whole.percent,
                     "packages": len({b.package for b in profile.blocks})}
    listing = function_listing(go, profile, PACKAGES.values(), report_dir)
    owners = {full_path(path): name for name, path in PACKAGES.items()}
    order = list(PACKAGES)
    unreached = [{"package": owners.get(f.file.rsplit("/", 1)[0], "?"), "file": relative_path(f.file),
                  "line": f.line, "function": f.name, "statements": f.statements}
                 for f in never_reached(functions(listing, profile.blocks))]
    result.never_reached = sorted(unreached, key=lambda entry: order.index(entry["package"]))  # stable: file, line
    return result


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def markdown(result: Result) -> str:
    run = result.run
    lines = [f"# Coverage of {result.source} by the scenario catalogue", ""]
    def selection(one: dict) -> str:
        return f"-k {one['keyword']!r}" if one.get("keyword") else "the whole catalogue"

    merged = "; ".join(f"{one['report_dir']} ({selection(one)})" for one in run.get("merged", ()))
    lines.append(f"Scenarios: {f'the runs {merged}, merged' if merged else selection(run)}; "
                 f"run exit {run.get('exit')} in {run.get('seconds', 0):.0f} s; build "
                 f"{'cached' if run.get('build_cached') else str(round(run.get('build_seconds', 0))) + ' s'}; "
                 f"{run.get('processes', 0)} processes wrote counters ({run.get('snapshots', 0)} snapshots, every "
                 f"{FLUSH_EVERY} s and at exit: a SIGKILLed process loses at most its last {FLUSH_EVERY} s).")
    lines += ["", "| package | path | statements | executed | coverage |", "|---|---|---:|---:|---:|"]
    for name, entry in result.packages.items():
        lines.append(f"| {name} | `{entry['path']}` | {entry['statements']} | {entry['executed']} | "
                     f"{_percent(entry['percent'])} |")
    lines.append(f"| **claimed packages** | | {result.claimed['statements']} | {result.claimed['executed']} | "
                 f"**{_percent(result.claimed['percent'])}** |")
    whole = result.module
    lines.append(f"| all of cert-manager ({whole['packages']} packages linked) | | {whole['statements']} | "
                 f"{whole['executed']} | {_percent(whole['percent'])} |")
    unreached = result.never_reached
    lines += ["", f"## Functions of the claimed packages never reached ({len(unreached)}, "
                  f"{sum(f['statements'] for f in unreached)} statements)", ""]
    package = None
    for entry in unreached:
        if entry["package"] != package:
            package = entry["package"]
            lines += ["", f"### {package}", ""] if lines[-1] else [f"### {package}", ""]
        count = f"{entry['statements']} statement" + ("" if entry["statements"] == 1 else "s")
        lines.append(f"- `{entry['file']}:{entry['line']}` {entry['function']} ({count})")
    return "\n".join(lines) + "\n"


def write(result: Result, report_dir: Path) -> str:
    text = markdown(result)
    (report_dir / "coverage.md").write_text(text)
    (report_dir / "coverage.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return text
