#!/usr/bin/python3
"""OCI runtime wrapper for dockerd: drop the capabilities the host cannot grant, then exec the real runc.

Why: where the capability bounding set (CapBnd in /proc/self/status) lacks a capability the kernel knows
(CAP_SYS_RESOURCE on the certchaos machine), every container that asks for all of them - kind's
`docker run --privileged` and `docker exec --privileged` - fails in runc with "unable to apply caps:
operation not permitted". harness/stack/kind/engine.py registers this file as dockerd's default runtime only
on such hosts. It is called exactly like runc:
    runc [global options] create|run --bundle DIR [options] ID   -> edits DIR/config.json (process.capabilities)
    runc [global options] exec --process FILE [options] ID       -> edits FILE (top-level capabilities)
dockerd hands `exec` capabilities over in the process file, not in config.json, so both must be filtered.
Stdlib only (dockerd runs it with the system Python). A failure here is logged, never blocks the container.
"""

from __future__ import annotations

import json
import os
import sys

REAL_RUNC = os.environ.get("CERTCHAOS_REAL_RUNC", "/usr/sbin/runc")

# Capability names by number (linux/capability.h, 0..40).
CAP_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
)
CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
# runc's global options that take a separate value, skipped while looking for the subcommand.
GLOBAL_WITH_VALUE = frozenset({"--root", "--log", "--log-format", "--criu", "--rootless"})


def capabilities(mask: int) -> frozenset[str]:
    """The CAP_* names whose bits are set in `mask` (a CapBnd value)."""
    return frozenset("CAP_" + name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1)


def bounding_mask(status_text: str) -> int | None:
    """CapBnd from the text of /proc/<pid>/status, or None if it has none."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return None


def missing_capabilities(status_text: str, cap_last_cap: int) -> frozenset[str]:
    """The capabilities the kernel knows (0..cap_last_cap) but this process's bounding set lacks."""
    mask = bounding_mask(status_text)
    full = (1 << (cap_last_cap + 1)) - 1
    return capabilities(full & ~mask) if mask is not None else frozenset()


def subcommand_index(args: list[str]) -> int | None:
    """Index of runc's subcommand in `args` (after the global options), or None."""
    index = 0
    while index < len(args):
        if not args[index].startswith("-"):
            return index
        index += 2 if args[index] in GLOBAL_WITH_VALUE else 1
    return None


def option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """Value of the first of `names` in `args` ('--bundle X', '--bundle=X', '-b X')."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def filter_capabilities(caps: dict, allowed: frozenset[str]) -> bool:
    """Remove names not in `allowed` from each capability list of `caps` in place; True if any went."""
    changed = False
    for key in CAP_SETS:
        names = caps.get(key)
        if names:
            kept = [name for name in names if name in allowed]
            if len(kept) != len(names):
                caps[key], changed = kept, True
    return changed


def config_capabilities(document: dict) -> dict | None:
    """The capabilities of an OCI bundle's config.json (create/run)."""
    return (document.get("process") or {}).get("capabilities")


def process_capabilities(document: dict) -> dict | None:
    """The capabilities of runc exec's --process file."""
    return document.get("capabilities")


def patch_file(path: str, locate, allowed: frozenset[str]) -> bool:
    """Filter the capabilities `locate` finds in the JSON file at `path`, rewriting it atomically if changed."""
    with open(path) as handle:
        document = json.load(handle)
    caps = locate(document)
    if not caps or not filter_capabilities(caps, allowed):
        return False
    temporary = path + ".capfilter.tmp"
    with open(temporary, "w") as handle:
        json.dump(document, handle)
    os.replace(temporary, path)
    return True


def patch_for(args: list[str], allowed: frozenset[str], cwd: str) -> str | None:
    """Apply the filter runc's command line `args` calls for; return the file patched (or None)."""
    index = subcommand_index(args)
    if index is None:
        return None
    command, rest = args[index], args[index + 1:]
    if command in ("create", "run"):
        path = os.path.join(option_value(rest, ("--bundle", "-b")) or cwd, "config.json")
        locate = config_capabilities
    elif command == "exec":
        path = option_value(rest, ("--process", "-p"))
        locate = process_capabilities
    else:
        return None
    return path if path and patch_file(path, locate, allowed) else None


def main() -> None:
    args = sys.argv[1:]
    try:
        with open("/proc/self/status") as handle:
            mask = bounding_mask(handle.read())
        if mask is not None:
            patch_for(args, capabilities(mask), os.getcwd())
    except (OSError, ValueError) as error:  # a bug of ours must never block a container
        print(f"runc_capfilter: warning: {error}", file=sys.stderr)
    os.execv(REAL_RUNC, [REAL_RUNC, *args])


if __name__ == "__main__":
    main()
