"""pytest's collection of a scenario catalogue, remembered: each scenario's node id, the names `-k` matches and
its markers, cached under a key of every file that can change them. Collecting imports the catalogue (the
Kubernetes client, the harness: ~1.2 s of CPU), three times per `certchaos run` (the -k check, the batch, the
exclusive ones); with the cache, a -k that selects nothing is refused in a fraction of a second. Expressions
are pytest's own (`_pytest.mark.expression`), matched as pytest matches them.

Loaded into the collecting pytest with `-p harness.collection`, this module is also the plugin that writes
the items out ($CERTCHAOS_COLLECTION: where to).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.stack import binaries

HARNESS = Path(__file__).resolve().parent  # its plugin adds markers; its modules are what scenarios import
OUTPUT_ENV = "CERTCHAOS_COLLECTION"
NO_TESTS = 5  # pytest's exit code when nothing was collected
# pytest's own collection of the catalogue (imports only, no lab): ~1-3 s here; the margin is for a machine
# that is also compiling.
TIMEOUT = 120.0
# What else pytest reads at collection that can change names or markers: its configuration files.
CONFIGS = ("conftest.py", "pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
# Plugins a collection does without: the cache (it would write .pytest_cache), and hypothesis's, whose
# import is ~1 s of the collection's ~2 s here.
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
FORGOTTEN_AFTER = 7 * 24 * 3600  # a cached collection not written again for a week is removed at the next write


@dataclass(frozen=True)
class Item:
    node_id: str  # relative to pytest's rootdir
    names: frozenset[str]  # what -k matches: node names up the chain, markers, function attributes, extra keywords
    markers: frozenset[str]


def items(scenarios: str, env: dict[str, str]) -> list[Item]:
    """Every scenario of `scenarios` (a directory or a module), from the cache when no file it depends on
    changed, else from pytest's collection (which then fills the cache); HarnessError if collecting fails."""
    cached = binaries.cache_dir() / "collection" / f"{key(Path(scenarios))}.json"
    if cached.is_file():
        try:
            return _load(cached)
        except (ValueError, KeyError, TypeError):
            pass  # a torn or foreign file: collect again, which replaces it
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "certchaos", "-p", __name__,
               *PLUGINS_OFF, scenarios]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                                env={**env, OUTPUT_ENV: str(partial)})
    except subprocess.TimeoutExpired:
        raise HarnessError(f"collecting {scenarios} took over {TIMEOUT:g}s. Fix: see `python -m pytest "
                           f"--collect-only -q {scenarios}`") from None
    if result.returncode not in (0, NO_TESTS) or not partial.is_file():
        partial.unlink(missing_ok=True)
        said = (result.stdout + result.stderr).strip().splitlines()
        raise HarnessError(f"collecting {scenarios} failed (pytest exit {result.returncode}):\n"
                           + "\n".join(said[-20:]))
    partial.replace(cached)  # atomic: a concurrent reader sees the whole file or none
    for entry in cached.parent.glob("*.json"):  # entries of edited catalogues and of tests' temporary ones
        if time.time() - entry.stat().st_mtime > FORGOTTEN_AFTER:
            entry.unlink(missing_ok=True)
    return _load(cached)


def _load(path: Path) -> list[Item]:
    return [Item(entry["node_id"], frozenset(entry["names"]), frozenset(entry["markers"]))
            for entry in json.loads(path.read_text())]


def key(scenarios: Path) -> str:
    """A digest of everything the collection of `scenarios` depends on: Python's and pytest's versions, the
    working directory (pytest may take it for its rootdir, which node ids are relative to), and each file's
    path, size and mtime, of the scenarios, the harness and pytest's configuration above them."""
    from _pytest._version import version  # not `import pytest`: a tenth of a second

    scenarios = scenarios.resolve()
    files = sorted(scenarios.rglob("*.py")) if scenarios.is_dir() else [scenarios]
    files += sorted(HARNESS.rglob("*.py"))
    files += [parent / name for parent in scenarios.parents for name in CONFIGS if (parent / name).is_file()]
    digest = hashlib.sha256(f"{sys.version}\0{version}\0{os.getcwd()}\0{scenarios}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def select(catalogue: list[Item], keyword: str | None = None, marker: str | None = None) -> list[Item]:
    """The items a -k `keyword` and a -m `marker` expression select, as pytest selects them; HarnessError
    naming the option for an expression that does not parse."""
    from _pytest.mark import expression as parsing

    refused = (SyntaxError, getattr(parsing, "ParseError", SyntaxError))  # pytest 9 raises SyntaxError, 8 its own

    def compiled(option: str, text: str) -> parsing.Expression:
        try:
            return parsing.Expression.compile(text)
        except refused as error:
            where = f"at column {error.offset}: {error.msg}" if isinstance(error, SyntaxError) else str(error)
            raise HarnessError(f"{option} {text!r}: Wrong expression passed to '{option}': {where}. Fix: a pytest "
                               f"{option} expression, e.g. {option} 'webhook and not slow'") from None

    chosen = catalogue
    if keyword:
        expression = compiled("-k", keyword)
        chosen = [item for item in chosen if expression.evaluate(_matcher(
            lambda word, names=item.names: any(word.lower() in name.lower() for name in names)))]
    if marker:
        expression = compiled("-m", marker)
        chosen = [item for item in chosen if expression.evaluate(_matcher(item.markers.__contains__))]
    return chosen


def _matcher(matches):
    def matcher(name: str, /, **arguments) -> bool:
        if arguments:
            raise HarnessError(f"a marker or keyword with arguments ({name}({arguments})) is not supported here. "
                               "Fix: select by names only")
        return matches(name)
    return matcher


def pytest_collection_finish(session) -> None:
    """The plugin's one hook: every collected item with its -k names and markers, to $CERTCHAOS_COLLECTION."""
    from _pytest.mark import KeywordMatcher

    entries = [{"node_id": item.nodeid, "names": sorted(KeywordMatcher.from_item(item)._names),
                "markers": sorted({mark.name for mark in item.iter_markers()})} for item in session.items]
    Path(os.environ[OUTPUT_ENV]).write_text(json.dumps(entries))
