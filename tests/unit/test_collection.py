"""The remembered collection (harness/collection.py) selects what pytest's own -k and -m select, and is
collected again whenever a file it depends on changes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness import collection
from harness.errors import HarnessError

# A toy catalogue with what -k matches beyond function names: a parametrize id, a class, a module, markers on
# a function, a class and a module, and a function attribute.
MODULE_A = '''
import pytest

pytestmark = pytest.mark.slowish


@pytest.mark.parametrize("issuer", ["acme", "ca"])
def test_issues(issuer):
    pass


@pytest.mark.exclusive
def test_webhook_outage():
    pass


def test_tagged():
    pass


test_tagged.renewal = True
'''
MODULE_B = '''
import pytest


@pytest.mark.exclusive
class TestNodes:
    def test_drain(self):
        pass

    def test_kill_Leader(self):
        pass
'''
EXPRESSIONS = ["issues", "acme", "ca", "Webhook", "slowish", "renewal", "exclusive", "TestNodes", "test_b",
               "leader and not drain", "issues or drain", "not slowish", "ca]", "nothing_at_all", "test_a.py"]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    catalogue = tmp_path / "toy"
    catalogue.mkdir()
    (catalogue / "test_a.py").write_text(MODULE_A)
    (catalogue / "test_b.py").write_text(MODULE_B)
    return catalogue


def pytest_selects(catalogue, *selection: str) -> list[str]:
    """The node ids pytest's own collection selects."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *collection.PLUGINS_OFF,
                             *selection, str(catalogue)], capture_output=True, text=True)
    assert result.returncode in (0, 5), result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_the_keyword_and_marker_selections_are_pytests_own(toy):
    items = collection.items(str(toy), dict(os.environ))
    assert len(items) == 6
    for expression in EXPRESSIONS:
        ours = [item.node_id for item in collection.select(items, expression)]
        assert ours == pytest_selects(toy, "-k", expression), expression
    for expression in ("exclusive", "not exclusive", "slowish and not exclusive"):
        ours = [item.node_id for item in collection.select(items, marker=expression)]
        assert ours == pytest_selects(toy, "-m", expression), expression


def test_a_second_call_reads_the_cache_and_a_changed_file_is_collected_again(toy, monkeypatch):
    env = dict(os.environ)
    first = collection.items(str(toy), env)
    collected = []
    real_run = subprocess.run
    monkeypatch.setattr(collection.subprocess, "run", lambda *a, **k: collected.append(a) or real_run(*a, **k))
    assert collection.items(str(toy), env) == first and collected == []
    (toy / "test_b.py").write_text(MODULE_B + "\n\ndef test_added():\n    pass\n")
    again = collection.items(str(toy), env)
    assert len(collected) == 1 and [i.node_id for i in again if i.node_id.endswith("test_added")]


def test_a_write_forgets_cached_collections_older_than_a_week(toy):
    folder = toy.parent / "cache" / "collection"
    folder.mkdir(parents=True)
    old, recent = folder / "old.json", folder / "recent.json"
    for path, age in ((old, collection.FORGOTTEN_AFTER + 60), (recent, collection.FORGOTTEN_AFTER - 60)):
        path.write_text("[]")
        os.utime(path, (time.time() - age, time.time() - age))
    collection.items(str(toy), dict(os.environ))
    assert not old.exists() and recent.exists() and len(list(folder.glob("*.json"))) == 2


def test_a_torn_cache_file_is_collected_again(toy):
    first = collection.items(str(toy), dict(os.environ))
    cached = next((toy.parent / "cache" / "collection").glob("*.json"))
    cached.write_text('[{"node_id": ')
    assert collection.items(str(toy), dict(os.environ)) == first


def test_an_expression_that_does_not_parse_names_the_option_and_the_fix(toy):
    items = collection.items(str(toy), dict(os.environ))
    with pytest.raises(HarnessError, match=r"-k 'issues and \(': Wrong expression passed to '-k'.*Fix:"):
        collection.select(items, "issues and (")


def test_a_catalogue_that_does_not_import_is_a_harness_error_with_pytests_words(toy):
    (toy / "test_a.py").write_text("import no_such_module_here\n")
    with pytest.raises(HarnessError, match=r"(?s)collecting .* failed \(pytest exit 2\).*no_such_module_here"):
        collection.items(str(toy), dict(os.environ))
    assert not list((toy.parent / "cache" / "collection").glob("*"))  # nothing half-written left
