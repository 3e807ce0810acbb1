"""Leftovers of earlier runs: found by their owner being gone, never while the owner lives (real dirs and real
processes here; docker's answers stand in for an engine, the kind integration tests use a real one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness.stack import leftovers
from harness.stack.kind import labnet, provider
from harness.stack.kind.engine import state_dir
from harness.stack.local import STACK_MARKER
from harness.wait import Seen, wait_for


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_markers_are_the_ones_the_stack_sets():
    assert leftovers.STACK_MARKER == STACK_MARKER
    assert leftovers.CLUSTER_LABEL == provider.CLUSTER_LABEL and leftovers.KIND_NETWORK == provider.KIND_NETWORK
    assert leftovers.ANCHOR_LABEL == labnet.ANCHOR_LABEL and leftovers.LIB_MODULES == provider.LIB_MODULES
    assert leftovers.dockerd_config() == state_dir() / "daemon.json"


def test_a_dir_is_left_over_once_its_owner_is_gone_and_never_while_it_lives(tmp_path):
    mine = tmp_path / f"{leftovers.owned_prefix('lab')}abc123"
    theirs = tmp_path / f"certchaos-lab-{dead_pid()}-def456"
    unrelated = tmp_path / "certchaos-notours-1-x"
    for path in (mine, theirs, unrelated):
        path.mkdir()
    found = leftovers.find_dirs([tmp_path])
    assert [item.name for item in found] == [str(theirs)]
    assert "is gone" in found[0].why


def test_an_owner_pid_reused_by_a_later_process_is_not_the_owner():
    started = leftovers.process_start(os.getpid())
    assert leftovers.owner_alive(os.getpid(), started + 60)  # made after this process started: ours
    assert not leftovers.owner_alive(os.getpid(), started - 3600)  # made an hour before it started: reused pid
    assert not leftovers.owner_alive(dead_pid())


def test_a_dir_without_an_owner_is_kept_while_a_process_refers_to_it_or_it_changed_lately(tmp_path):
    quiet, used, recent = (tmp_path / f"certchaos-lab-{name}" for name in ("quiet1", "used22", "recent"))
    for path in (quiet, used, recent):
        path.mkdir()
    long_ago = time.time() - 2 * leftovers.LEGACY_QUIET
    for path in (quiet, used):
        os.utime(path, (long_ago, long_ago))
    user = subprocess.Popen(["sleep", "60"], cwd=used)  # a live run working in it
    try:
        found = leftovers.find_dirs([tmp_path])
    finally:
        user.kill()
        user.wait()
    assert [item.name for item in found] == [str(quiet)]
    assert "no process refers to it" in found[0].why


def _orphan(env: dict[str, str]) -> int:
    """A real `sleep` whose parent has exited (reparented to init), with `env` added: what a SIGKILLed run's
    dockerd is. Returns its pid."""
    driver = ("import os, subprocess, sys; p = subprocess.Popen(['sleep', '120'], start_new_session=True, "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **eval(sys.argv[1]))); "
              "print(p.pid)")
    out = subprocess.run([sys.executable, "-c", driver, repr(env)], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_process_whose_owner_is_gone_is_found_and_stopped_and_one_whose_owner_lives_is_not():
    orphan = _orphan({leftovers.OWNER_ENV: str(dead_pid())})
    owned = _orphan(leftovers.owner_env())  # this test process is its owner, and alive
    try:
        found = {item.name: item for item in leftovers.find_processes()}
        assert str(orphan) in found and found[str(orphan)].what == "process"
        assert str(owned) not in found
        leftovers.remove(found[str(orphan)], docker=None)
        wait_for(lambda: Seen(leftovers.process_start(orphan) is None or leftovers.zombie(orphan), orphan),
                 subject=f"process {orphan}", expected="stopped", timeout=15)
    finally:
        for pid in (orphan, owned):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def test_only_the_root_of_an_owned_tree_is_listed_and_stopping_it_stops_its_group():
    """A leftover dockerd's containerd and shims carry its marker too (other runs' containers among them): they
    are never listed; a tree's children go with its root."""
    marker = {leftovers.OWNER_ENV: str(dead_pid())}
    driver = ("import os, subprocess, sys; p = subprocess.Popen(['sh', '-c', 'sleep 120 & sleep 120'], "
              "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, "
              "env=dict(os.environ, **eval(sys.argv[1]))); print(p.pid)")
    root = int(subprocess.run([sys.executable, "-c", driver, repr(marker)], capture_output=True, text=True,
                              check=True).stdout)
    try:
        wait_for(lambda: Seen(len(children(root)) == 2, children(root)), subject=f"sh {root}",
                 expected="to start its two sleeps", timeout=15)
        found = [item for item in leftovers.find_processes() if item.name in {str(root), *map(str, children(root))}]
        assert [item.name for item in found] == [str(root)]
        leftovers.remove(found[0], docker=None)
        wait_for(lambda: Seen(not [pid for pid in [root, *children(root)] if not leftovers.zombie(pid)],
                              children(root)), subject=f"sh {root} and its children", expected="stopped", timeout=15)
    finally:
        for pid in [root, *children(root)]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def children(pid: int) -> list[int]:
    return [other for other in leftovers._pids() if leftovers._ppid(other) == pid]


def test_an_older_stack_process_is_left_over_when_its_run_dir_is_gone(tmp_path):
    gone = _orphan({STACK_MARKER: str(tmp_path / "gone")})
    try:
        assert str(gone) in {item.name for item in leftovers.find_processes()}
    finally:
        os.kill(gone, 9)


MOUNTINFO = """\
22 1 0:21 / /proc rw,nosuid - proc proc rw
90 22 0:50 / /tmp/certchaos-lab-1-x/stack/mnt rw - tmpfs tmpfs rw
91 90 0:51 / /tmp/certchaos-lab-1-x/stack/mnt/deeper rw - tmpfs tmpfs rw
92 22 0:52 / /tmp/certchaos-lab-1-xy rw - tmpfs tmpfs rw
93 22 0:53 / /tmp/with\\040space rw - tmpfs tmpfs rw
"""


def test_mounts_inside_a_leftover_dir_are_found_deepest_first():
    assert leftovers.mounts_under(["/tmp/certchaos-lab-1-x"], MOUNTINFO) == [
        "/tmp/certchaos-lab-1-x/stack/mnt/deeper", "/tmp/certchaos-lab-1-x/stack/mnt"]
    assert leftovers.mounts_under(["/tmp/with space"], MOUNTINFO) == ["/tmp/with space"]


class FakeDocker:
    """docker's answers for find_docker: node containers per cluster, anchors, the kind network."""

    def __init__(self, nodes: dict[str, str] | None = None, anchors: dict[str, str] | None = None,
                 attached: list[str] | None = None):
        self.nodes, self.anchors, self.attached = nodes or {}, anchors or {}, attached or []

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        if args[:2] == ("ps", "-a") and provider.CLUSTER_LABEL in args[3]:
            out = "".join(f"{name}\t{cluster}\n" for name, cluster in self.nodes.items())
        elif args[:2] == ("ps", "-a"):
            out = "".join(f"{name}\t{cluster}\n" for name, cluster in self.anchors.items())
        elif args[0] == "inspect":
            out = time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z\n", time.gmtime())  # made now
        elif args[:2] == ("network", "inspect"):
            out = "".join(f"{name}\n" for name in self.attached)
        else:
            raise AssertionError(f"unexpected docker {args}")
        return subprocess.CompletedProcess(args, 0, out, "")


def test_a_cluster_is_left_over_once_its_owner_is_gone_and_an_unowned_one_is_only_listed():
    dead, live = f"certchaos-{dead_pid()}-ab12", leftovers.owned_name("cd34")
    docker = FakeDocker(nodes={f"{dead}-control-plane": dead, f"{live}-control-plane": live,
                               "certchaos-a1b2c3-control-plane": "certchaos-a1b2c3"},
                        anchors={f"{dead}-lab-ca": dead, f"{live}-lab-ca": live, "certchaos-9-ff-lab-ca": "certchaos-9-ff"},
                        attached=[f"{dead}-control-plane", f"{live}-control-plane", f"{live}-lab-ca"])
    found = {(item.what, item.name): item for item in leftovers.find_docker(docker)}
    assert set(found) == {("cluster", dead), ("cluster", "certchaos-a1b2c3"), ("container", f"{dead}-lab-ca"),
                          ("container", "certchaos-9-ff-lab-ca")}
    assert not found[("cluster", "certchaos-a1b2c3")].removable  # no owner recorded: a live run may use it
    assert "kind delete cluster --name certchaos-a1b2c3" in found[("cluster", "certchaos-a1b2c3")].fix


def test_the_kind_network_is_left_over_when_only_leftovers_are_attached(monkeypatch):
    monkeypatch.setattr(leftovers, "_kind_running", lambda: False)  # a kind create would be making it now
    dead = f"certchaos-{dead_pid()}-ab12"
    docker = FakeDocker(nodes={f"{dead}-control-plane": dead}, anchors={f"{dead}-lab-ca": dead},
                        attached=[f"{dead}-control-plane", f"{dead}-lab-ca"])
    assert ("network", "kind") in {(item.what, item.name) for item in leftovers.find_docker(docker)}
    docker.attached.append("someone-elses")
    assert ("network", "kind") not in {(item.what, item.name) for item in leftovers.find_docker(docker)}


def test_an_empty_lib_modules_is_left_over_only_while_no_cluster_runs_with_docker_or_without(monkeypatch, tmp_path):
    monkeypatch.setattr(leftovers, "_kind_running", lambda: False)
    monkeypatch.setattr(leftovers, "LIB_MODULES", tmp_path / "modules")
    monkeypatch.setattr(leftovers, "find_processes", lambda: [])
    monkeypatch.setattr(leftovers, "find_dirs", lambda: [])
    (tmp_path / "modules").mkdir()
    live = leftovers.owned_name("cd34")
    assert ("dir", str(tmp_path / "modules")) not in {
        (i.what, i.name) for i in leftovers.find_docker(FakeDocker(nodes={f"{live}-control-plane": live}))}
    assert ("dir", str(tmp_path / "modules")) in {(i.what, i.name) for i in leftovers.find_docker(FakeDocker())}
    assert [(i.what, i.name) for i in leftovers.find(None)] == [("dir", str(tmp_path / "modules"))]  # no Docker
    (tmp_path / "modules" / "6.1.0").mkdir()  # the host's own modules: never
    assert leftovers.find(None) == []


class NetworkDocker:
    """docker's answers for removing the kind network: nothing attached; records what it was asked."""

    def __init__(self):
        self.calls = []

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        self.calls.append(args)
        return subprocess.CompletedProcess(args, 0, "0\n" if args[1] == "inspect" else "", "")

    __call__ = docker


def test_the_unused_kind_network_is_kept_while_a_run_joins_it_and_removed_after(monkeypatch, tmp_path):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    engine = NetworkDocker()
    with leftovers.joining_kind_network(), leftovers.joining_kind_network():  # two runs creating clusters
        provider.remove_network_if_unused(engine)
        with pytest.raises(RuntimeError, match="creating a kind cluster on it: kept"):
            leftovers.remove(leftovers.Leftover("network", "kind", "unused"), engine)
        assert engine.calls == []  # not even asked: a node may be about to attach
    provider.remove_network_if_unused(engine)
    leftovers.remove(leftovers.Leftover("network", "kind", "unused"), engine)
    assert engine.calls[-1] == ("network", "rm", "kind") and engine.calls.count(("network", "rm", "kind")) == 2
    with leftovers.kind_network_free() as free:
        assert free
        with leftovers.kind_network_free() as second:
            assert not second  # one removal at a time: the other skips


@pytest.mark.parametrize("cluster", [None, "custom"])
def test_a_kind_stack_names_its_cluster_after_its_owner(cluster):
    stack = provider.KindStack(name=cluster, run_dir="/nonexistent-run-dir")
    if cluster is None:
        assert leftovers._OWNED_CLUSTER.match(stack.name)["pid"] == str(os.getpid())
    else:
        assert stack.name == "custom"
