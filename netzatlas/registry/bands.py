"""3GPP E-UTRA and NR operating bands used in Germany, as data (data/bands.csv).

Each band: technology (LTE = E-UTRA, NR), duplex mode (FDD, TDD, SDL = supplemental downlink), uplink and
downlink frequency ranges in MHz and the source table. The coverage engine uses the downlink centre
frequency of a cell's band where the delivery gives no carrier frequency. Migration 0010 holds its own copy
of these rows (table radio_bands), so that a later edit here never changes what an old migration created.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "bands.csv"


@dataclass(frozen=True)
class Band:
    code: str  # B1 (E-UTRA), n78 (NR)
    technology: str  # LTE | NR
    duplex: str  # FDD | TDD | SDL
    ul_low_mhz: float | None
    ul_high_mhz: float | None
    dl_low_mhz: float
    dl_high_mhz: float
    name: str
    source: str

    @property
    def dl_centre_mhz(self) -> float:
        return (self.dl_low_mhz + self.dl_high_mhz) / 2


def _num(v: str) -> float | None:
    return float(v) if v.strip() else None


@cache
def bands() -> dict[str, Band]:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    out = {}
    for r in rows:
        out[r["code"]] = Band(
            r["code"],
            r["technology"],
            r["duplex"],
            _num(r["ul_low_mhz"]),
            _num(r["ul_high_mhz"]),
            float(r["dl_low_mhz"]),
            float(r["dl_high_mhz"]),
            r["name"],
            r["source"],
        )
    return out


def canonical(code: object) -> str | None:
    """A delivered band code in the table's spelling: B1/b1/LTE1 -> B1, N78/n78/NR78 -> n78; None if unknown."""
    if not isinstance(code, str | int):
        return None
    text = str(code).strip().replace(" ", "")
    upper = text.upper()
    for prefix, out in (("LTE", "B"), ("NR", "n"), ("B", "B"), ("N", "n")):
        if upper.startswith(prefix) and upper[len(prefix) :].isdigit():
            candidate = out + str(int(upper[len(prefix) :]))
            return candidate if candidate in bands() else None
    return None


def codes() -> tuple[str, ...]:
    return tuple(bands())
