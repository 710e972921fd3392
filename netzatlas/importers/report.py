"""The validation report of a delivery: each problem with layer, feature index or id, field and reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 1000
CHANGE_KEYS = (
    "created",
    "updated",
    "retired",
    "changed",
)  # problems listed one by one; the counts per type are always complete


def problem_type(field_name: str, reason: str) -> str:
    """A stable name for the kind of problem, for the counts per type."""
    r = reason.lower()
    for needle, name in (
        ("required", "missing_required"),
        ("unknown code", "unknown_code"),
        ("unknown status", "unknown_code"),
        ("unknown sensitivity", "unknown_code"),
        ("unknown attribute", "unknown_attribute"),
        ("minimum", "out_of_range"),
        ("maximum", "out_of_range"),
        ("duplicate", "duplicate_id"),
        ("refers to", "reference"),
        ("outside", "outside_municipality"),
        ("finite", "invalid_coordinates"),
        ("retired", "retired"),
    ):
        if needle in r:
            return name
    if field_name == "geometry":
        return "geometry"
    if r.startswith("expected"):
        return "wrong_type"
    return "other"


@dataclass
class Report:
    file: str
    format: str = ""
    profile: str = ""
    layers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files of the delivery not read (documentation in a zip)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None  # the delivery could not be read at all

    @property
    def valid(self) -> bool:
        return self.error is None and not self.problem_counts

    @property
    def problem_total(self) -> int:
        return sum(self.problem_counts.values())

    def add(
        self, layer: str, index: int | None, fid: Any, field_name: str, reason: str, kind: str | None = None
    ) -> None:
        kind = kind or problem_type(field_name, reason)
        self.problem_counts[kind] += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(
                {"layer": layer, "index": index, "id": fid, "field": field_name, "reason": reason, "type": kind}
            )

    @property
    def changes(self) -> int:
        return sum(v for c in self.counts.values() for k, v in c.items() if k in CHANGE_KEYS)

    def summary(self) -> str:
        if self.error:
            return f"rejected: {self.error}"
        if not self.valid:
            types = ", ".join(f"{n} {t}" for t, n in self.problem_counts.most_common())
            return f"rejected: {self.problem_total} problem(s) ({types}); nothing was written"
        if not self.counts:
            return "valid"
        if self.changes == 0:
            return "no changes: the registry already holds this delivery"
        parts = []
        for target, c in self.counts.items():
            done = ", ".join(f"{v} {k}" for k, v in c.items() if v)
            parts.append(f"{target}: {done or 'nothing'}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "profile": self.profile,
            "valid": self.valid,
            "summary": self.summary(),
            "error": self.error,
            "layers": self.layers,
            "problem_counts": dict(self.problem_counts),
            "problems": self.problems,
            "problems_listed": len(self.problems),
            "notes": self.notes,
            "ignored": self.ignored,
            "counts": self.counts,
        }
