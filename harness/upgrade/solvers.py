"""The setup's issuers' ACME solvers as the API server holds them, and what an upgrade changed in them: a
solver whose provider changed (route53 became rfc2136), one lost, a field of one changed or dropped (B's CRDs
pruning a field A's kept). A user's issuers must solve the same way after the upgrade as before it."""

from __future__ import annotations

from kubernetes import client

from harness.observe.resources import CLUSTER_ISSUER, ISSUER, get
from harness.upgrade.setup import SetupObject

MISSING = "(absent)"


def issuer_solvers(api: client.ApiClient, objects: list[SetupObject]) -> dict[str, list]:
    """Issuer ref -> its spec.acme.solvers as read now (None for an issuer that is gone), for the setup's ACME
    issuers."""
    found = {}
    for obj in objects:
        if obj.kind in ("Issuer", "ClusterIssuer") and "acme" in (obj.body.get("spec") or {}):
            held = get(api, ISSUER if obj.kind == "Issuer" else CLUSTER_ISSUER, obj.namespace, obj.name)
            found[obj.ref] = None if held is None else ((held.get("spec") or {}).get("acme") or {}).get("solvers")
    return found


def solver_type(solver: dict) -> str:
    """"dns01.route53", "http01.ingress", ...: the challenge type and its provider (the first key of each)."""
    for challenge in ("dns01", "http01"):
        if isinstance(solver.get(challenge), dict):
            providers = [key for key in solver[challenge] if key != "cnameStrategy"]
            return f"{challenge}.{providers[0] if providers else '?'}"
    return "?"


def solver_changes(before: dict[str, list], after: dict[str, list]) -> list[str]:
    """Every difference between two reads of issuer_solvers, one line each, naming the issuer and the field."""
    changes = []
    for ref, old in before.items():
        new = after.get(ref)
        if new is None:
            changes.append(f"{ref}: gone after the upgrade" if old is not None else f"{ref}: gone")
            continue
        old, new = old or [], new or []
        for index, solver in enumerate(old):
            path = f"{ref}: spec.acme.solvers[{index}]"
            if index >= len(new):
                changes.append(f"{path} ({solver_type(solver)}) lost")
            elif solver_type(solver) != solver_type(new[index]):
                changes.append(f"{path}: {solver_type(solver)} became {solver_type(new[index])}")
            else:
                changes += [f"{path}{field}" for field in _differences("", solver, new[index])]
        changes += [f"{ref}: spec.acme.solvers[{index}] ({solver_type(solver)}) added"
                    for index, solver in enumerate(new[len(old):], len(old))]
    return changes


def _differences(path: str, old, new) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for key in sorted(set(old) | set(new))
                for line in _differences(f"{path}.{key}", old.get(key, MISSING), new.get(key, MISSING))]
    if old != new:
        return [f"{path}: {old!r} -> {new!r}"]
    return []
