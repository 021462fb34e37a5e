"""The check's report: what was searched, and where each canary found turned up."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One canary found: which place it was put in and where it turned up."""

    place: str
    where: str


@dataclass
class CheckReport:
    """What was searched and what was found."""

    canaries: dict[str, str]
    zdr: bool
    findings: list[Finding] = field(default_factory=list)
    searched: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        """The human report: PASS and what was searched, or where each canary was found."""
        scope = ", ".join(f"{count} {what}" for what, count in self.searched.items())
        if self.passed:
            return [
                f"PASS: {len(self.canaries)} canaries (ZDR {'on' if self.zdr else 'off'}) "
                f"found nowhere; searched {scope}"
            ]
        found = [f"FOUND: {f.place} canary in {f.where}" for f in self.findings]
        places = {f.place for f in self.findings}
        return [
            *found,
            f"FAIL: {len(places)} of {len(self.canaries)} canaries found "
            f"(ZDR {'on' if self.zdr else 'off'}); searched {scope}",
        ]
