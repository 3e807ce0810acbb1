"""Builds ONE real mutant from a patched copy of the pinned cert-manager source.

Measured on 2 shared cores: 15-70 s when Go's build cache is warm from scripts/setup.sh (it compiles the
patched package and its dependents and links the controller), 8 s when this very mutant was built before
(Go's cache has its packages; the test's fresh CERTCHAOS_CACHE still forces the copy, patch and go build).
Fits CI easily (90 min budget, ~13 used).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.mutants import build, catalogue
from harness.stack.gotoolchain import find_go

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_go() is None, reason="building a mutant needs the Go toolchain"),
]
MUTANT = "dns01-no-wait-after-self-check"


def test_a_mutant_builds_from_the_patched_copy_once_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))  # a fresh cache: this build really happens
    mutant = catalogue.select(catalogue.load(), [MUTANT])[0]
    built = build.build(mutant)
    binary = built.bin_dir / "cert-manager-controller"
    assert not built.cached and os.access(binary, os.X_OK)
    assert built.bin_dir == tmp_path / "mutants" / f"cert-manager-v1.11.5-{mutant.patch_hash}"
    # Built from the copy (the replace in the alternate go.mod), stamped with the mutant's name.
    go = find_go()  # the pinned toolchain when no Go is on PATH (a stock machine), as the build used
    info = subprocess.run([go, "version", "-m", str(binary)], capture_output=True, text=True, check=True).stdout
    assert "=>\t" + str(tmp_path / "mutants") in info, info
    assert f"v1.11.5-mutant.{MUTANT}".encode() in binary.read_bytes()
    assert sorted(p.name for p in built.bin_dir.iterdir()) == ["cert-manager-controller", build.MANIFEST]
    assert [p.name for p in (tmp_path / "mutants").iterdir()] == [built.bin_dir.name]  # scratch copy removed
    again = build.build(mutant)
    assert (again.cached, again.bin_dir, again.seconds) == (True, built.bin_dir, 0.0)
