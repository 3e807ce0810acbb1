"""Known upstream bugs: a scenario that finds one in a release that has it deviates as that release always will.

A platform team running an affected cert-manager needs the bug shown with its evidence and the release that fixes
it; a run of the catalogue against that release must still be able to pass. So a scenario marked
`@pytest.mark.known_issue(...)` whose deviation is that bug (its message matches) in a release before the fix gets
the verdict known-issue: listed with the evidence, not failing the run. The bug not showing where it should is a
deviation too (the check went blind, or the build carries the fix), as pytest's strict xfail; in a release with
the fix, or one whose version is unknown, the scenario judges as any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def release(version: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a version such as v1.11.5 or 1.12.0-beta.1; None when it is not one."""
    found = _RELEASE.match(version.strip())
    return tuple(int(part) for part in found.groups()) if found else None  # type: ignore[return-value]


@dataclass(frozen=True)
class KnownIssue:
    """An upstream bug of `component` before `fixed_in`; `match` (a regex) finds it in a deviation's message."""

    component: str
    fixed_in: str
    match: str
    why: str

    @classmethod
    def from_marker(cls, kwargs: dict[str, Any]) -> KnownIssue:
        missing = [name for name in ("component", "fixed_in", "match", "why") if not kwargs.get(name)]
        if missing or release(kwargs["fixed_in"]) is None:
            raise ValueError(f"known_issue needs component, fixed_in (a version such as v1.13.0), match and why; "
                             f"got {kwargs}")
        try:
            re.compile(kwargs["match"])
        except re.error as error:
            raise ValueError(f"known_issue's match {kwargs['match']!r} is no regular expression: {error}") from None
        return cls(kwargs["component"], kwargs["fixed_in"], kwargs["match"], kwargs["why"])

    def version_in(self, components: dict[str, Any]) -> str | None:
        said = components.get(self.component)
        return said.get("version") if isinstance(said, dict) else said

    def affects(self, components: dict[str, Any]) -> bool:
        """Whether the component under test is a release before the fix (False when its version is unknown)."""
        found = release(self.version_in(components) or "")
        return found is not None and found < release(self.fixed_in)

    def explains(self, message: str) -> bool:
        return re.search(self.match, message, re.DOTALL) is not None

    def describe(self, components: dict[str, Any]) -> str:
        return f"known issue of {self.component} {self.version_in(components)} (fixed in {self.fixed_in}): {self.why}"
