"""The kind provider's engine: the runc wrapper's capability filtering and the capability detection."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harness.errors import HarnessError

from harness.stack.kind import engine, runc_capfilter as rc

ALL = [f"CAP_{name}" for name in rc.CAP_NAMES]
cap_lists = st.lists(st.sampled_from(ALL), unique=True)
cap_sets = st.frozensets(st.sampled_from(ALL))
cap_table = st.fixed_dictionaries({key: cap_lists for key in rc.CAP_SETS})
global_options = st.lists(st.sampled_from([["--root", "/run/docker/runtime-runc/moby"], ["--log", "/x/log.json"],
                                           ["--log-format", "json"], ["--systemd-cgroup"], ["--debug"]]))


def _expected(caps: dict, allowed: frozenset[str]) -> dict:
    return {key: [name for name in names if name in allowed] for key, names in caps.items()}


@settings(max_examples=60, deadline=None)
@given(caps=cap_table, allowed=cap_sets, options=global_options, bundle_form=st.sampled_from(["--bundle", "-b", "="]))
def test_create_filters_config_json_to_the_allowed_set_and_keeps_the_rest(tmp_path_factory, caps, allowed, options,
                                                                          bundle_form):
    bundle = tmp_path_factory.mktemp("bundle")
    document = {"ociVersion": "1.0.2", "process": {"args": ["/sbin/init"], "capabilities": caps},
                "root": {"path": "rootfs"}}
    (bundle / "config.json").write_text(json.dumps(document))
    bundle_args = [f"--bundle={bundle}"] if bundle_form == "=" else [bundle_form, str(bundle)]
    args = [word for option in options for word in option] + ["create", *bundle_args, "--pid-file", "p", "id1"]

    patched = rc.patch_for(args, allowed, cwd="/nonexistent")

    after = json.loads((bundle / "config.json").read_text())
    assert after["process"]["capabilities"] == _expected(caps, allowed)
    assert after["root"] == document["root"] and after["process"]["args"] == ["/sbin/init"]
    changed = _expected(caps, allowed) != caps
    assert (patched is not None) == changed
    assert not list(bundle.glob("*.tmp"))


@settings(max_examples=60, deadline=None)
@given(caps=cap_table, allowed=cap_sets, options=global_options)
def test_exec_filters_the_process_file_not_config_json(tmp_path_factory, caps, allowed, options):
    directory = tmp_path_factory.mktemp("exec")
    process = directory / "process.json"
    process.write_text(json.dumps({"args": ["kubeadm", "init"], "capabilities": caps}))
    config = directory / "config.json"  # in the cwd, where a wrong wrapper would look
    config.write_text(json.dumps({"process": {"capabilities": caps}}))
    args = [word for option in options for word in option] + ["exec", "--process", str(process), "--detach", "id1"]

    rc.patch_for(args, allowed, cwd=str(directory))

    assert json.loads(process.read_text())["capabilities"] == _expected(caps, allowed)
    assert json.loads(config.read_text())["process"]["capabilities"] == caps


@given(caps=cap_table, allowed=cap_sets, command=st.sampled_from(["delete", "state", "kill", "start", "features"]))
def test_other_commands_touch_nothing(tmp_path_factory, caps, allowed, command):
    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": caps}}))
    assert rc.patch_for(["--root", "/r", command, "--bundle", str(bundle), "id1"], allowed, str(bundle)) is None
    assert json.loads((bundle / "config.json").read_text())["process"]["capabilities"] == caps


@given(mask=st.integers(min_value=0, max_value=(1 << len(ALL)) - 1), last=st.integers(min_value=30, max_value=40))
def test_missing_capabilities_are_exactly_the_known_bits_the_bounding_set_lacks(mask, last):
    status = f"Name:\tpython3\nCapEff:\t0000000000000000\nCapBnd:\t{mask:016x}\nSeccomp:\t0\n"
    missing = rc.missing_capabilities(status, last)
    known = set(ALL[: last + 1])
    assert missing | (rc.capabilities(mask) & known) == known
    assert not missing & rc.capabilities(mask)
    assert (engine.daemon_config(missing) == {}) == (not missing)


def test_daemon_config_registers_the_executable_wrapper_as_default_runtime():
    config = engine.daemon_config(frozenset({"CAP_SYS_RESOURCE"}))
    path = Path(config["runtimes"][config["default-runtime"]]["path"])
    assert path == Path(rc.__file__).resolve()
    assert path.stat().st_mode & stat.S_IXUSR and path.read_text().startswith("#!/usr/bin/python3")


def test_wrapper_execs_the_real_runtime_with_the_same_arguments(tmp_path):
    """The wrapper run as dockerd runs it: a stand-in runc records its argv and the file it was given."""
    fake = tmp_path / "runc"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\ncp {tmp_path}/p.json {tmp_path}/seen.json\n")
    fake.chmod(0o755)
    all_caps = {key: list(ALL) for key in rc.CAP_SETS}
    (tmp_path / "p.json").write_text(json.dumps({"capabilities": all_caps}))
    env = dict(os.environ, CERTCHAOS_REAL_RUNC=str(fake))
    subprocess.run([rc.__file__, "--root", "/r", "exec", "-p", str(tmp_path / "p.json"), "c1"], env=env, check=True)
    assert (tmp_path / "argv").read_text().split() == ["--root", "/r", "exec", "-p", str(tmp_path / "p.json"), "c1"]
    own = rc.capabilities(rc.bounding_mask(Path("/proc/self/status").read_text()))
    assert json.loads((tmp_path / "seen.json").read_text())["capabilities"]["bounding"] == [c for c in ALL if c in own]


def test_no_engine_and_no_dockerd_is_one_line_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(engine.DockerEngine, "info", lambda self: None)
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    with pytest.raises(HarnessError, match=r"apt-get install -y docker.io"):
        engine.DockerEngine(tmp_path).start()


def test_no_engine_and_not_root_names_the_command_and_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(engine.DockerEngine, "info", lambda self: None)
    monkeypatch.setattr(engine.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    started = engine.DockerEngine(tmp_path)
    with pytest.raises(HarnessError, match="starting dockerd needs root"):
        started.start()
    assert not started.started and not (tmp_path / "daemon.json").exists()
