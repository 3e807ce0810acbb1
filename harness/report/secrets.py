"""Is a report dir safe to publish? It is attached to tickets and kept as a CI artifact, so it must hold no
private key and none of the lab's credentials (its TSIG secrets). `scan_for_secrets` names every file that
does, and never the secret itself (the list is printed)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

# A PEM private key of any kind: "-----BEGIN PRIVATE KEY-----", "... RSA PRIVATE KEY-----", "... EC ...",
# "... ENCRYPTED ...", "... OPENSSH ...", "-----BEGIN PGP PRIVATE KEY BLOCK-----".
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")
# The same armour base64-encoded, as a kubeconfig's client-key-data or a Secret's tls.key carries it:
# "LS0tLS1CRUdJTi" is base64 of "-----BEGIN" at the start of the encoded text.
BASE64_PEM = re.compile(rb"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,}")
BASE64_HEAD = 96  # base64 characters decoded per candidate: 72 bytes cover the longest BEGIN line
# A given secret shorter than this is not searched for: it would match by chance (and a real TSIG secret is
# 32 random bytes, 44 base64 characters).
MIN_SECRET = 8
CHUNK = 1 << 20  # files are read a MiB at a time (a component log can be large) ...
OVERLAP = 4096  # ... and each chunk starts this far back, so a marker or secret across the seam is found


def _labelled(secrets: Mapping[str, str] | Iterable[str]) -> list[tuple[str, bytes]]:
    pairs = secrets.items() if isinstance(secrets, Mapping) else (
        (f"given secret #{index}", secret) for index, secret in enumerate(secrets, 1))
    return [(label, secret.encode()) for label, secret in pairs if secret and len(secret) >= MIN_SECRET]


def _base64_pem(chunk: bytes) -> bool:
    for match in BASE64_PEM.finditer(chunk):
        head = match.group(0)[:BASE64_HEAD]
        try:
            decoded = base64.b64decode(head[: len(head) // 4 * 4])
        except (binascii.Error, ValueError):
            continue
        if PEM_PRIVATE_KEY.search(decoded):
            return True
    return False


def _chunks(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as stream:
        tail = b""
        while block := stream.read(CHUNK):
            yield tail + block
            tail = block[-OVERLAP:]


def scan_file(path: Path, secrets: list[tuple[str, bytes]]) -> list[str]:
    """What `path` holds that must not be published: "PEM private key", "base64 PEM private key", and the
    label of each given secret found (never the secret)."""
    found: list[str] = []
    for chunk in _chunks(path):
        if "PEM private key" not in found and PEM_PRIVATE_KEY.search(chunk):
            found.append("PEM private key")
        if "base64 PEM private key" not in found and _base64_pem(chunk):
            found.append("base64 PEM private key")
        found += [label for label, secret in secrets if label not in found and secret in chunk]
    return found


def scan_for_secrets(report_dir: str | os.PathLike, secrets: Mapping[str, str] | Iterable[str] = ()) -> list[str]:
    """Every file under `report_dir` that holds a PEM private key (also base64-encoded) or one of `secrets`
    (strings, or label -> string), as "relative/path: what" lines, sorted; empty when the dir is safe to
    publish. Symbolic links are reported, not followed: what they point at may be anywhere."""
    root = Path(report_dir)
    labelled = _labelled(secrets)
    findings = []
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            relative = path.relative_to(root)
            if path.is_symlink():
                findings.append(f"{relative}: a symbolic link (to {os.readlink(path)}); copy the file instead")
                continue
            try:
                found = scan_file(path, labelled)
            except OSError as error:
                findings.append(f"{relative}: unreadable, so not checked ({error.strerror})")
                continue
            if found:
                findings.append(f"{relative}: {', '.join(found)}")
    return sorted(findings)
