"""The kind provider's engine: the runc wrapper's capability filtering and the capability detection, and one
dockerd shared by several certchaos processes (real processes; `docker info` and `docker ps` stand in)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harness.errors import HarnessError

from harness.stack import leftovers
from harness.stack.kind import engine, runc_capfilter as rc
from harness.wait import Seen, wait_for

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


# -- one engine, several certchaos processes ----------------------------------------------------------------


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _stand_in_dockerd(config: Path, owned: bool = False) -> int:
    """A real process named dockerd with `--config-file config` on its command line, whose parent has exited
    (`owned`: with OWNER_ENV naming that parent): what a dockerd another certchaos process started, and left to the
    last user, looks like. Returns its pid."""
    driver = ("import os, subprocess, sys; p = subprocess.Popen(['bash', '-c', 'exec -a dockerd \"$0\" -c \"import "
              "time; time.sleep(120)\" --config-file \"$1\"', sys.executable, sys.argv[1]], start_new_session=True, "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, "
              f"**({{'{leftovers.OWNER_ENV}': str(os.getpid())}} if {owned} else {{}}))); print(p.pid)")
    pid = int(subprocess.run([sys.executable, "-c", driver, str(config)], capture_output=True, text=True,
                             check=True).stdout)
    wait_for(lambda: Seen(leftovers.our_dockerd(config) == pid, leftovers._cmdline(pid)), subject=f"stand-in {pid}",
             expected="to run as dockerd", timeout=15)
    return pid


def _running(pid: int) -> bool:
    return leftovers.process_start(pid) is not None and not leftovers.zombie(pid)


@pytest.fixture
def shared(monkeypatch, tmp_path):
    """An engine directory whose stand-in dockerd answers; `containers` is what `docker ps -q` lists."""
    containers: list[str] = []
    monkeypatch.setattr(engine.DockerEngine, "info", lambda self: {"ServerVersion": "stand-in"})
    monkeypatch.setattr(engine.DockerEngine, "docker", lambda self, *args, check=True, timeout=120:
                        subprocess.CompletedProcess(args, 0, "\n".join(containers), ""))
    pid = _stand_in_dockerd(tmp_path / "daemon.json")
    yield tmp_path, pid, containers
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_the_dockerd_a_finished_user_started_stops_with_the_last_user_not_before(shared):
    """CI's test-kind started dockerd and finished while run-kind's clusters still ran on it: they lost their
    engine. The first user's stop leaves it to the others; the last one stops it."""
    folder, dockerd, _ = shared
    first, second = engine.DockerEngine(folder).start(), engine.DockerEngine(folder).start()
    assert not first.started and not second.started  # both found it answering
    second.start()  # the image builder starts the cluster's engine again: still one user
    first.stop()
    assert _running(dockerd)
    second.stop()
    wait_for(lambda: Seen(not _running(dockerd), leftovers._cmdline(dockerd)), subject=f"dockerd {dockerd}",
             expected="stopped by the last user", timeout=engine.STOP_TIMEOUT)
    assert not list((folder / leftovers.ENGINE_USERS).iterdir())


def test_a_user_that_was_killed_does_not_keep_it_but_a_container_does(shared):
    folder, dockerd, containers = shared
    (folder / leftovers.ENGINE_USERS).mkdir()
    (folder / leftovers.ENGINE_USERS / f"{dead_pid()}.0").touch()  # a SIGKILLed user's file
    containers.append("f00d")  # someone else's container
    engine.DockerEngine(folder).start().stop()
    assert _running(dockerd)
    containers.clear()
    engine.DockerEngine(folder).start().stop()
    wait_for(lambda: Seen(not _running(dockerd), leftovers._cmdline(dockerd)), subject=f"dockerd {dockerd}",
             expected="stopped once idle", timeout=engine.STOP_TIMEOUT)


def test_the_hosts_own_dockerd_and_an_engine_never_started_are_never_stopped(shared, tmp_path_factory):
    folder, dockerd, _ = shared
    elsewhere = engine.DockerEngine(tmp_path_factory.mktemp("host"))  # the host's dockerd: another config
    elsewhere.start().stop()
    engine.DockerEngine(folder).stop()  # stop without start: it never used the engine
    assert _running(dockerd)


def test_clean_keeps_a_handed_on_dockerd_while_a_user_lives(monkeypatch, tmp_path):
    """Its starter is gone, so `certchaos clean` sees a leftover; while another certchaos process uses it, kept."""
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    dockerd = _stand_in_dockerd(leftovers.dockerd_config(), owned=True)
    try:
        user = leftovers.engine_users() / f"{os.getpid()}.0"
        user.parent.mkdir(parents=True)
        user.touch()
        found = [item for item in leftovers.find(docker=None) if item.name == str(dockerd)]
        assert [item.what for item in found] == ["dockerd"] and not found[0].removable
        assert "1 running certchaos process(es) use it" in found[0].why
        user.unlink()
        found = [item for item in leftovers.find(docker=None) if item.name == str(dockerd)]
        assert found and found[0].removable
    finally:
        os.kill(dockerd, signal.SIGKILL)
