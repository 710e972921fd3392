"""README.md, "A municipality of your own", run as written: every `netzatlas` command of its shell block in
`examples/musterstadt/`, in order, against a fresh empty database; then the server that `netzatlas serve` would
start, and Musterstadt's dashboard and map in Chromium.

The expected figures are read from the example files themselves (sites, antennas and cells of the network zip,
the district table, the Zensus grid), so the test fails when the README, the files or the code stop agreeing."""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Browser
from shapely.geometry import box

from netzatlas import db
from netzatlas.registry import reference

from .conftest import ARTIFACTS, make_database, serve_database, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "musterstadt"
CLI = Path(sys.executable).parent / "netzatlas"
AGS = "07999001"
SECTION = "## A municipality of your own"
READY = "window.netzatlasMap && window.netzatlasMap.loaded() && window.netzatlasMap.areTilesLoaded()"
# added after the walk, so that "only its districts" has something to leave out: an invented neighbour
NEIGHBOUR, NEIGHBOUR_DISTRICT = "07999002", "Nachbardorf"
NEIGHBOUR_BOUNDARY = box(446_000, 5_438_000, 449_000, 5_441_000)  # EPSG:25832, east of Musterstadt


def readme_commands() -> list[str]:
    """The lines of the section's shell block, without comments and blank lines."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end > 0 else len(text)]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"{SECTION!r} should hold one shell block, found {len(blocks)}"
    lines = []
    for line in blocks[0].splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(line.split("  #")[0].strip())
    return lines


@dataclass
class Walked:
    db_url: str
    home: Path
    url: str  # base URL of the server
    outputs: dict[str, subprocess.CompletedProcess[str]]  # per command line as written
    key: str  # the planner key `keys create` printed

    def output(self, prefix: str) -> str:
        hits = [r.stdout for line, r in self.outputs.items() if line.startswith(prefix)]
        assert len(hits) == 1, (prefix, list(self.outputs))
        return hits[0]


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walked]:
    name = f"netzatlas_test_walk_{os.getpid()}"
    url = make_database(name)  # created with PostGIS, no schema: `netzatlas db up` migrates it
    home = tmp_path_factory.mktemp("walk") / "home"
    env = {
        **os.environ,
        "NETZATLAS_DATABASE_URL": url,
        "NETZATLAS_DATABASE_NAME": name,
        "NETZATLAS_HOME": str(home),
        "COLUMNS": "200",
    }
    env.pop("NETZATLAS_APP_DATABASE_URL", None)
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    served = False
    for line in readme_commands():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            # where the registry lives; the test gives its own (a fresh database and home) instead
            assert words[1].startswith("NETZATLAS_HOME="), line
            continue
        assert words[0] == "netzatlas", f"the walk should be netzatlas commands only: {line!r}"
        if words[1] == "serve":
            assert words == ["netzatlas", "serve"], line
            served = True
            continue
        assert not served, f"a command after `netzatlas serve`: {line!r}"
        res = subprocess.run([str(CLI), *words[1:]], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=900)
        if res.returncode != 0:
            pytest.fail(f"`{line}` exited with {res.returncode}:\n{res.stderr[-3000:]}\n{res.stdout[-2000:]}")
        outputs[line] = res
    assert served, "the walk should end with `netzatlas serve`"
    keys = [w for r in outputs.values() for w in r.stdout.split() if w.startswith("nz_")]
    assert len(keys) == 1, "`netzatlas keys create` should print one key"
    with db.transaction(url, actor="test") as c:
        reference.upsert_municipality(c, NEIGHBOUR, "Nachbarort", NEIGHBOUR_BOUNDARY, "invented for tests")
        reference.upsert_districts(c, NEIGHBOUR, [{"name": NEIGHBOUR_DISTRICT, "boundary": NEIGHBOUR_BOUNDARY}])
    with serve_database(url, "walk", {"NETZATLAS_HOME": str(home)}) as base:
        yield Walked(url, home, base, outputs, keys[0])
    db.drop_database(name)


def _tables() -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(EXAMPLE / "funknetz.zip") as z:
        return {
            n.removesuffix(".csv"): list(csv.DictReader(io.StringIO(z.read(n).decode("utf-8")), delimiter=";"))
            for n in z.namelist()
            if n.endswith(".csv")
        }


def _district_population() -> dict[str, int]:
    """The latest year's population of each district, as the example's table gives it."""
    rows = list(csv.DictReader((EXAMPLE / "einwohner_ortsbezirke.csv").open(encoding="utf-8"), delimiter=";"))
    latest = max(int(r["Jahr"]) for r in rows)
    return {r["Ortsbezirk"]: int(r["Einwohner"].replace(".", "")) for r in rows if int(r["Jahr"]) == latest}


def _grid() -> tuple[int, int, int]:
    """Cells, cells kept secret and the population of the others in the example's Zensus grid."""
    rows = list(
        csv.DictReader((EXAMPLE / "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv").open(encoding="utf-8"), delimiter=";")
    )
    secret = [r for r in rows if r["Einwohner"] in ("–", "-")]
    return len(rows), len(secret), sum(int(r["Einwohner"]) for r in rows if r not in secret)


def test_the_walk_registers_musterstadt_with_its_population_network_and_a_run(walked: Walked):
    tables = _tables()
    sites, antennas, cells = tables["standorte"], tables["antennen"], tables["zellen"]
    assert (len(sites), len(antennas), len(cells)) == (15, 57, 181)  # the example as README describes it
    population = _district_population()
    n_cells, n_secret, grid_population = _grid()
    assert n_secret > 0 and sum(population.values()) > 0

    shown = subprocess.run(
        [str(CLI), "municipalities", "show", AGS, "--json"],
        env={**os.environ, "NETZATLAS_DATABASE_URL": walked.db_url, "NETZATLAS_HOME": str(walked.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    m = orjson.loads(shown.stdout)
    assert m["name"] == "Musterstadt" and 12 < m["area_km2"] < 14
    assert {d["name"]: d["population"] for d in m["districts"]} == population
    assert m["population"]["total"] == sum(population.values()) and m["population"]["basis"] == "districts"
    grid = next(s for s in m["population"]["sources"] if s["kind"] == "grid")
    assert (grid["cells"], grid["secret_cells"], grid["population"]) == (n_cells, n_secret, grid_population)
    assert {o["id"] for o in m["operators"]} == {"telekom", "vodafone", "telefonica"}
    assert "Musterstadt" in walked.output("netzatlas municipalities show")

    with db.connect(walked.db_url) as c:
        one = c.execute
        registered = one(
            "SELECT external_id, operator, attributes -> 'operators' AS ops FROM assets "
            "WHERE kind = 'mobile-sites' AND municipality = %s AND retired_at IS NULL",
            (AGS,),
        ).fetchall()
        assert sorted(r["external_id"] for r in registered) == sorted(s["Standort-ID"] for s in sites)
        shared = [r for r in registered if len(r["ops"]) > 1]
        assert len(shared) == sum("/" in s["Netzbetreiber"] for s in sites) > 0
        counts = one(
            "SELECT (SELECT count(*) FROM radio_antennas WHERE municipality = %(a)s) AS antennas, "
            "(SELECT count(*) FROM radio_antennas WHERE municipality = %(a)s AND omnidirectional) AS omni, "
            "(SELECT count(*) FROM radio_cells WHERE municipality = %(a)s) AS cells, "
            "(SELECT count(*) FROM buildings WHERE municipality = %(a)s) AS buildings",
            {"a": AGS},
        ).fetchone()
        assert (counts["antennas"], counts["cells"]) == (len(antennas), len(cells))
        assert counts["omni"] == sum(a["Rundstrahler"] == "ja" for a in antennas) > 0
        assert counts["buildings"] > 1000
        bands = {r["band"] for r in one("SELECT DISTINCT band FROM radio_cells WHERE municipality = %s", (AGS,))}
        assert bands == {"B1", "B3", "B20", "B32", "n78"}
        run = one(
            "SELECT id::text, status, statistics FROM coverage_runs WHERE municipality = %s AND analysis = 'mobile'",
            (AGS,),
        ).fetchall()
    assert len(run) == 1 and run[0]["status"] == "succeeded"
    stats = run[0]["statistics"]
    assert run[0]["id"] in walked.output("netzatlas coverage run mobile")
    assert stats["population"] == grid_population  # the run weights by the grid, secret cells left out
    assert stats["buildings"] == counts["buildings"]
    # the planned site's cells are not on air
    planned = {s["Standort-ID"] for s in sites if s["Zustand"] == "geplant"}
    assert planned and stats["radio_cells"] == len(cells) - sum(c["Standort-ID"] in planned for c in cells)
    assert 0 < stats["coverage"]["covered"]["share_population"] <= 1
    assert 0 < stats["coverage"]["NR n78"]["share_area"] < stats["coverage"]["covered"]["share_area"]


def test_dashboard_after_signing_in_shows_musterstadt(browser: Browser, walked: Walked):
    """As the README says: /signin with the planner key as password, then Musterstadt's dashboard."""
    page = browser.new_page(
        viewport={"width": 1200, "height": 900}, http_credentials={"username": "planung", "password": walked.key}
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(f"{walked.url}/signin?next=/dashboard?municipality={AGS}")
    page.screenshot(path=str(ARTIFACTS / f"readme-walk-dashboard-{AGS}.png"), full_page=True)
    assert response.status == 200 and page.url.endswith(f"/dashboard?municipality={AGS}"), page.url
    assert "Musterstadt" in page.inner_text("h1")
    population = _district_population()
    districts = [e.get_attribute("data-district") for e in page.query_selector_all("#districts tr[data-district]")]
    assert sorted(districts) == sorted(population) and NEIGHBOUR_DISTRICT not in districts
    with db.connect(walked.db_url) as c:
        run = c.execute(
            "SELECT id::text, statistics FROM coverage_runs WHERE municipality = %s AND analysis = 'mobile'", (AGS,)
        ).fetchone()
    assert page.get_attribute("[data-run=mobile]", "data-run-id") == run["id"]
    covered = run["statistics"]["coverage"]["covered"]
    shown = float(page.get_attribute("[data-stat='mobile.coverage.covered.share_population']", "data-value"))
    assert shown == pytest.approx(covered["share_population"]) and shown > 0
    assert "of the population" in page.inner_text("#totals")
    assert float(page.get_attribute("#population", "data-value")) == run["statistics"]["population"]
    for d in districts:
        row = f"#districts tr[data-district='{d}']"
        assert 0 < float(page.get_attribute(f"{row} [data-key=mobile_share_population]", "data-value")) <= 1, d
    assert errors == []
    page.close()


def test_map_of_musterstadt_lists_only_its_districts(browser: Browser, walked: Walked):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(f"{walked.url}/map?municipality={AGS}")
    assert response.status == 200
    wait_until(page, READY)
    page.screenshot(path=str(ARTIFACTS / f"readme-walk-map-{AGS}.png"))
    assert page.input_value("#municipality") == AGS
    options = page.eval_on_selector_all("#district option", "os => os.filter(o => o.value).map(o => o.textContent)")
    assert sorted(options) == sorted(_district_population())
    # its population grid is Zensus 2022: the legend names no census year it does not have
    legend = page.inner_text("#legend")
    assert "Population (Zensus grid)" in legend and "2011" not in legend
    # zoomed to Musterstadt: the view's centre lies in its boundary's box
    with db.connect(walked.db_url) as c:
        b = c.execute(
            "SELECT ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2 FROM "
            "(SELECT ST_Transform(boundary, 4326) AS e FROM municipalities WHERE ags = %s) s",
            (AGS,),
        ).fetchone()
    lng, lat = page.evaluate("(() => { const c = window.netzatlasMap.getCenter(); return [c.lng, c.lat]; })()")
    assert b["x1"] <= lng <= b["x2"] and b["y1"] <= lat <= b["y2"]
    assert errors == []
    page.close()


def test_the_example_files_are_what_make_examples_writes(tmp_path: Path):
    """The committed files are exactly what the script writes (it is deterministic), so they can be regenerated."""
    res = subprocess.run(
        [sys.executable, str(EXAMPLE / "make_examples.py"), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in EXAMPLE.iterdir() if p.name != "make_examples.py" and p.is_file())
    for name in written:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name
    figures = orjson.loads(res.stdout)
    assert figures["population_2023"] == sum(_district_population().values())
    assert (figures["sites"], figures["antennas"], figures["cells"]) == (15, 57, 181)
