"""TSIG keys and what each may change: the DNS provider's credentials and their permissions.

Revoking, rotating and narrowing a key at run time is the "DNS-provider permission drift" lever, so
the key store is mutable and thread-safe; the update processor asks it for a key on every message.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field, replace

import dns.name
import dns.tsig

from fakes.dns.zone import glob_pattern, matches_glob

# Short names as operators write them (nsupdate -y, cert-manager's tsigAlgorithm) -> dnspython's names.
ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


def key_name(name: str) -> str:
    """Key names as operators write them: lowercase, no trailing dot ("certchaos")."""
    return name.lower().rstrip(".")


@dataclass(frozen=True)
class Policy:
    """Which owner names (glob patterns, `*` also matches dots) and record types a key may change.

    Policy(names=("_acme-challenge.*.example.test.",), types=("TXT",)); types=None means any type.
    """

    names: tuple[str, ...] = ("*",)
    types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.names, str) or isinstance(self.types, str):
            raise TypeError("Policy names and types are sequences of strings, not one string")
        object.__setattr__(self, "names", tuple(glob_pattern(p) for p in self.names))
        if self.types is not None:
            object.__setattr__(self, "types", tuple(t.upper() for t in self.types))

    def permits(self, name: str, rtype: str) -> bool:
        if self.types is not None and rtype.upper() not in self.types:
            return False
        return any(matches_glob(name, pattern) for pattern in self.names)

    def to_json(self) -> dict:
        return {"names": list(self.names), "types": None if self.types is None else list(self.types)}

    @classmethod
    def from_json(cls, data: dict | None) -> "Policy | None":
        if data is None:
            return None
        types = data.get("types")
        return cls(names=tuple(data.get("names", ("*",))), types=None if types is None else tuple(types))


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: name, algorithm (hmac-md5/-sha1/-sha256/-sha512), base64 secret, optional policy
    (None: may change anything in the served zones)."""

    name: str
    algorithm: str
    secret: str
    policy: Policy | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", key_name(self.name))
        algorithm = self.algorithm.lower().rstrip(".")
        if algorithm not in ALGORITHMS:
            raise ValueError(
                f"TSIG key {self.name}: unknown algorithm {self.algorithm!r}; use one of {', '.join(ALGORITHMS)}"
            )
        object.__setattr__(self, "algorithm", algorithm)
        _check_secret(self.name, self.secret)

    def dnspython_key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.name, self.secret, ALGORITHMS[self.algorithm])


def _check_secret(name: str, secret: str) -> None:
    try:
        if not base64.b64decode(secret, validate=True):
            raise ValueError
    except (binascii.Error, ValueError):
        raise ValueError(f"TSIG key {name}: secret must be non-empty base64, got {secret!r}") from None


@dataclass
class _KeyState:
    key: TsigKey
    revoked: bool = False
    dns_key: dns.tsig.Key = field(init=False)

    def __post_init__(self) -> None:
        self.dns_key = self.key.dnspython_key()


class KeyStore:
    """The server's keyring with run-time revoke / restore / rotate / policy changes."""

    def __init__(self, keys: list[TsigKey] | tuple[TsigKey, ...] = ()):
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyState] = {}
        for key in keys:
            self.add(key)

    def add(self, key: TsigKey) -> None:
        with self._lock:
            self._keys[key.name] = _KeyState(key)

    def _state(self, name: str) -> _KeyState:
        try:
            return self._keys[key_name(name)]
        except KeyError:
            known = ", ".join(sorted(self._keys)) or "none"
            raise KeyError(f"no TSIG key named {name!r} (known keys: {known})") from None

    def revoke(self, name: str) -> None:
        with self._lock:
            self._state(name).revoked = True

    def restore(self, name: str) -> None:
        with self._lock:
            self._state(name).revoked = False

    def rotate(self, name: str, secret: str) -> None:
        with self._lock:
            state = self._state(name)
            _check_secret(state.key.name, secret)
            self._keys[state.key.name] = _KeyState(replace(state.key, secret=secret), state.revoked)

    def set_policy(self, name: str, policy: Policy | None) -> None:
        with self._lock:
            state = self._state(name)
            self._keys[state.key.name] = _KeyState(replace(state.key, policy=policy), state.revoked)

    def get(self, name: str) -> tuple[TsigKey, bool] | None:
        """(key, revoked) for a key name, None if unknown."""
        with self._lock:
            state = self._keys.get(key_name(name))
            return None if state is None else (state.key, state.revoked)

    def keyring(self, _message: object, name: dns.name.Name) -> dns.tsig.Key | None:
        """dnspython keyring callable: the key to verify with, None if unknown or revoked (-> BADKEY)."""
        with self._lock:
            state = self._keys.get(key_name(name.to_text()))
            return None if state is None or state.revoked else state.dns_key

    def describe(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "name": s.key.name,
                    "algorithm": s.key.algorithm,
                    "revoked": s.revoked,
                    "policy": None if s.key.policy is None else s.key.policy.to_json(),
                }
                for s in self._keys.values()
            ]
