"""The open-data catalogue (/catalog, DCAT-AP.de 2.0): validated with pySHACL against the official shapes, read
the way a harvester reads it, and free of anything non-public.

The registry is the Worms demo plus secrets: a critical mobile site and a critical sensor with names to look for,
every actuator internal (so that kind has no dataset), buildings of a supplier whose attribution names no open
licence, a coverage run from public inputs only (listed) and one from critical inputs (not listed until published).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, RDF, SKOS, XSD

from netzatlas import db, migrate
from netzatlas.coverage import publication, runs
from netzatlas.demo import load as demo
from netzatlas.registry import keys

from .conftest import make_database, serve_database

SHAPES = Path(__file__).parents[2] / "shared" / "data" / "dcat-ap-de"
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
SPDX = Namespace("http://spdx.org/rdf/terms#")
PAGE_SIZE = 3
SETTINGS = {
    "NETZATLAS_CATALOG_PUBLISHER": "Stadtverwaltung Teststadt",
    "NETZATLAS_CATALOG_CONTACT_EMAIL": "opendata@teststadt.example",
    "NETZATLAS_CATALOG_CONTRIBUTOR_ID": "openGovernmentDataPortalRheinlandPfalz",
    "NETZATLAS_CATALOG_PAGE_SIZE": str(PAGE_SIZE),
}
CLI = str(Path(sys.executable).parent / "netzatlas")


@dataclass
class World:
    url: str
    db_url: str
    planner_key: str
    opendata: Path
    secrets: set[str]  # ids and names of non-public assets, ids of unpublished runs
    public_run: str
    critical_run: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    name = f"netzatlas_test_catalog_{os.getpid()}"
    db_url = make_database(name)
    migrate.upgrade(db_url)
    with db.transaction(db_url, actor=demo.DEMO_ACTOR) as c:
        demo.load(c)
        c.execute(
            "UPDATE assets SET sensitivity = 'critical', name = 'SECRET site', version = version + 1 WHERE id = "
            "(SELECT id FROM assets_mobile_sites WHERE sensitivity = 'public' ORDER BY external_id LIMIT 1)"
        )
        c.execute(
            "UPDATE assets SET sensitivity = 'critical', name = 'SECRET sensor', version = version + 1 WHERE id = "
            "(SELECT id FROM assets_sensors WHERE sensitivity = 'public' ORDER BY external_id LIMIT 1)"
        )
        c.execute("UPDATE assets SET sensitivity = 'internal', version = version + 1 WHERE kind = 'actuators'")
        # a building supplier whose terms are not open: its layer stays out of the catalogue
        c.execute(
            "INSERT INTO buildings (municipality, source, external_id, households, geom, attribution) VALUES "
            "('07319000', 'alkis-kauf', 'DERP123', 2, ST_SetSRID(ST_MakePoint(450000, 5500000), 25832), "
            "'© Vermessungsamt, Nutzung nur nach Vereinbarung')"
        )
        secrets = set()
        for r in c.execute("SELECT id::text, name FROM assets WHERE sensitivity <> 'public'").fetchall():
            secrets |= {r["id"], r["name"]} - {None}
        planner = keys.create_key(c, "planner", label="catalog")
    public_run = str(runs.start(db_url, "fiber", None, {"inputs": "public"})["id"])
    critical_run = str(runs.start(db_url, "fiber", None, {})["id"])
    opendata_dir = Path(tempfile.mkdtemp(prefix="netzatlas-test-opendata-"))
    env = {"NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_OPENDATA_DIR": str(opendata_dir), **SETTINGS}
    built = subprocess.run(
        [CLI, "opendata", "build"], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr
    with serve_database(db_url, "catalog", env) as base:
        yield World(base, db_url, planner, opendata_dir, secrets | {critical_run}, public_run, critical_run)
    db.drop_database(name)
    shutil.rmtree(opendata_dir, ignore_errors=True)


def harvest(w: World, headers: dict[str, str] | None = None, **params: str) -> tuple[Graph, list[Graph], int]:
    """What a harvester does: read /catalog (RDF/XML), follow hydra:next to the end; the merged graph, each page's
    graph and hydra:totalItems."""
    merged, pages = Graph(), []
    url: str | None = f"{w.url}/catalog"
    total = -1
    with httpx.Client(timeout=60, headers=headers or {}) as client:
        first = True
        while url:
            r = client.get(url, params=params if first else None)
            first = False
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/rdf+xml")
            g = Graph().parse(data=r.content, format="xml")
            pages.append(g)
            merged += g
            total = int(next(g.objects(None, HYDRA.totalItems)))
            nxt = list(g.objects(None, HYDRA.next))
            url = str(nxt[0]) if nxt else None
            assert len(pages) < 100
    return merged, pages, total


def datasets(g: Graph) -> set[str]:
    return {str(d).rsplit("#", 1)[1] for d in g.subjects(RDF.type, DCAT.Dataset)}


# ---------------------------------------------------------------- validation with the official shapes


def _need_shapes() -> None:
    if not SHAPES.is_dir():
        pytest.skip(f"the DCAT-AP.de shapes are not at {SHAPES} (shared/data/dcat-ap-de beside the repository)")


def shapes_2_0() -> Graph:
    """DCAT-AP.de 2.0 specification + Konventionen, combined as GovData's validator does."""
    g = Graph()
    for f in sorted((SHAPES / "govdata-2.0").glob("*.ttl")):
        g.parse(f)
    g.parse(SHAPES / "semic-dcat-ap-2.1.1" / "dcat-ap_2.1.1_shacl_shapes.ttl")
    return g


def background(data: Graph) -> Graph:
    """The data with the vocabularies merged in (see the shapes' README), and the concepts of the EU authority
    tables and the political geocoding keys that the data uses declared members of their tables."""
    g = Graph()
    g += data
    for f in sorted((SHAPES / "vocabularies").iterdir()):
        g.parse(f, format="xml" if f.suffix == ".rdf" else "turtle")
    tables = {
        "http://publications.europa.eu/resource/authority/data-theme/": (DCAT.theme,),
        "http://publications.europa.eu/resource/authority/file-type/": (DCTERMS.format,),
        "http://publications.europa.eu/resource/authority/language/": (DCTERMS.language,),
        "http://dcat-ap.de/def/politicalGeocoding/municipalityKey/": (DCATDE.politicalGeocodingURI,),
        "http://dcat-ap.de/def/politicalGeocoding/Level/": (DCATDE.politicalGeocodingLevelURI,),
        "http://publications.europa.eu/resource/authority/access-right/": (DCTERMS.accessRights,),
    }
    for prefix, predicates in tables.items():
        for p in predicates:
            for concept in set(data.objects(None, p)):
                if str(concept).startswith(prefix):
                    g.add((concept, RDF.type, SKOS.Concept))
                    g.add((concept, SKOS.inScheme, URIRef(prefix.rstrip("/"))))
    # the SPDX checksum algorithms are individuals of spdx:ChecksumAlgorithm (the SPDX ontology the 3.0 draft imports)
    for algorithm in set(data.objects(None, SPDX.algorithm)):
        if str(algorithm).startswith(str(SPDX)):
            g.add((algorithm, RDF.type, SPDX.ChecksumAlgorithm))
    return g


def shapes_3_0() -> Graph:
    """The DCAT-AP.de 3.0 draft, combined as GovData's validator does."""
    g = Graph()
    for f in sorted((SHAPES / "govdata-3.0").glob("*.ttl")):
        g.parse(f)
    g.parse(SHAPES / "semic-dcat-ap-3.0.0" / "shapes.ttl")
    return g


def validate(data: Graph, shapes: Graph | None = None) -> tuple[list[str], list[str]]:
    """(violations, warnings) of the 2.0 combination (or of `shapes`), as messages."""
    from pyshacl import validate as shacl

    _, report, _ = shacl(
        background(data),
        shacl_graph=shapes if shapes is not None else shapes_2_0(),
        inference="none",
        allow_warnings=True,
    )
    sh = Namespace("http://www.w3.org/ns/shacl#")
    found: dict[URIRef, list[str]] = {sh.Violation: [], sh.Warning: []}
    for result in report.subjects(RDF.type, sh.ValidationResult):
        severity = report.value(result, sh.resultSeverity)
        text = f"{report.value(result, sh.focusNode)}: {report.value(result, sh.resultMessage)}"
        found.setdefault(severity, []).append(text)
    return found[sh.Violation], found[sh.Warning]


def test_govdata_perfect_record_passes_and_without_licence_fails():
    """The check is shown to work: GovData's own perfect record passes, the same record without licence fails."""
    _need_shapes()
    perfect = Graph().parse(SHAPES / "govdata-testcases" / "v2.0-perfect.ttl")
    violations, _ = validate(perfect)
    assert violations == []
    broken = Graph()
    broken += perfect
    broken.remove((None, DCTERMS.license, None))
    violations, _ = validate(broken)
    assert any("K31" in v for v in violations), violations


def test_catalogue_validates_with_zero_violations(world: World):
    _need_shapes()
    merged, _, total = harvest(world)
    assert total == len(datasets(merged)) > PAGE_SIZE  # several pages
    violations, warnings = validate(merged)
    assert violations == [], "\n".join(sorted(set(violations))[:10])
    print(f"{len(warnings)} warnings", *sorted(set(warnings))[:20], sep="\n")


def _summary(found: list[str]) -> list[tuple[int, str]]:
    """(number of focus nodes, message) per message, most frequent first."""
    from collections import Counter

    counts = Counter(" ".join(m.split(": ", 1)[-1].split()) for m in found)
    return sorted(((n, m) for m, n in counts.items()), key=lambda x: (-x[0], x[1]))


def shacl_results(data: Graph, shapes: Graph) -> list[tuple[str, bool, str, str]]:
    """(severity, whether the focus node is the catalogue's own, path, message) of every validation result."""
    from pyshacl import validate as shacl

    _, report, _ = shacl(background(data), shacl_graph=shapes, inference="none", allow_warnings=True)
    sh = Namespace("http://www.w3.org/ns/shacl#")
    ours = set(data.subjects())
    out = []
    for result in report.subjects(RDF.type, sh.ValidationResult):
        path = report.value(result, sh.resultPath)
        out.append(
            (
                str(report.value(result, sh.resultSeverity)).rsplit("#", 1)[1],
                report.value(result, sh.focusNode) in ours,
                data.namespace_manager.normalizeUri(path) if isinstance(path, URIRef) else str(path or ""),
                " ".join(str(report.value(result, sh.resultMessage)).split()),
            )
        )
    return out


def test_catalogue_against_the_dcat_ap_de_3_0_draft_is_reported(world: World):
    """Reported, not required: what the DCAT-AP.de 3.0 draft shapes say about the catalogue (the README lists
    it). Results on nodes of the offline background (EU tables and dcat-ap.de lists declared without their labels
    and titles) are counted apart from the catalogue's own."""
    from collections import Counter

    _need_shapes()
    merged, _, total = harvest(world)
    shapes = shapes_3_0()
    results = shacl_results(merged, shapes)
    own = Counter((sev, path, msg) for sev, mine, path, msg in results if mine)
    rest = Counter(sev for sev, mine, _, _ in results if not mine)
    print(
        f"\nDCAT-AP.de 3.0 draft, {total} datasets: on the catalogue's nodes",
        dict(Counter(k[0] for k in own.elements())),
    )
    for (sev, path, msg), n in sorted(own.items(), key=lambda x: (x[0][0], -x[1])):
        print(f"  {sev} x{n} {path}: {msg[:240]}")
    print("  on the offline background's table concepts and lists (missing labels/titles):", dict(rest))
    # the check can fail under 3.0 too: datasets without a title are violations there
    broken = Graph()
    broken += merged
    broken.remove((None, DCTERMS.title, None))
    worse = [r for r in shacl_results(broken, shapes) if r[0] == "Violation"]
    assert len(worse) >= len([r for r in results if r[0] == "Violation"]) + total


def test_sha256_checksums_and_the_2_0_shapes(world: World):
    """The downloads' checksums are SHA-256, in the manifests only: an spdx:checksum with SHA-256 on a distribution
    is two violations per distribution under DCAT-AP.de 2.0 (the DCAT-AP 2.1.1 shape knows only SHA-1, the German
    one only the dcat-ap.de hash algorithm list); the 3.0 draft accepts it. Should the 2.0 shapes change, this
    fails and the catalogue can carry the checksums."""
    _need_shapes()
    merged, _, _ = harvest(world)
    downloads = [d for d in merged.subjects(RDF.type, DCAT.Distribution) if merged.value(d, DCAT.downloadURL)]
    assert downloads and not list(merged.objects(None, SPDX.checksum))
    manifest = json.loads((world.opendata / "07319000" / "manifest.json").read_text())
    files = {f["file"]: f for e in manifest["datasets"].values() for f in e["files"]}
    assert all(set(f) == {"file", "media_type", "file_type", "bytes", "sha256"} for f in files.values())
    with_sums = Graph()
    with_sums += merged
    for dist in downloads:
        node = URIRef(f"{dist}-checksum")
        with_sums.add((dist, SPDX.checksum, node))
        with_sums.add((node, RDF.type, SPDX.Checksum))
        with_sums.add((node, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        sha = files[str(merged.value(dist, DCAT.downloadURL)).rsplit("/", 1)[1]]["sha256"]
        with_sums.add((node, SPDX.checksumValue, Literal(sha, datatype=XSD.hexBinary)))
    violations, _ = validate(with_sums)
    assert len(violations) == 2 * len(downloads), _summary(violations)
    messages = {m for _, m in _summary(violations)}
    assert any("checksumAlgorithm_sha1" in m for m in messages) and any("kv-hash-algorithms" in m for m in messages)
    shapes = shapes_3_0()
    assert sorted(validate(with_sums, shapes)[0]) == sorted(validate(merged, shapes)[0])


def test_missing_licence_in_our_catalogue_is_a_violation(world: World):
    """Our own catalogue with a distribution's licence removed fails the same check."""
    _need_shapes()
    merged, _, _ = harvest(world)
    dist = next(merged.subjects(RDF.type, DCAT.Distribution))
    merged.remove((dist, DCTERMS.license, None))
    violations, _ = validate(merged)
    assert any("K31" in v for v in violations)


def test_round_trip_through_turtle_rdfxml_and_jsonld(world: World):
    """The same page by Accept (the same URL, so the same Hydra links): one graph in all three syntaxes; by f= too
    once the view's links, which keep f, are set aside."""
    graphs = {}
    for f, fmt, media in (
        ("rdf", "xml", "application/rdf+xml"),
        ("ttl", "turtle", "text/turtle"),
        ("jsonld", "json-ld", "application/ld+json"),
    ):
        r = httpx.get(f"{world.url}/catalog", params={"page": "2"}, headers={"Accept": media})
        assert r.status_code == 200 and r.headers["content-type"].startswith(media)
        graphs[f] = Graph().parse(data=r.content, format=fmt)
        by_f = httpx.get(f"{world.url}/catalog", params={"page": "2", "f": f})
        assert by_f.headers["content-type"].startswith(media)
        g = Graph().parse(data=by_f.content, format=fmt)
        for view in set(g.objects(None, HYDRA.view)):
            g.remove((view, None, None))
            g.remove((None, HYDRA.view, view))
        graphs[f"f={f}"] = g
    assert len(graphs["rdf"]) > 50
    for other in ("ttl", "jsonld"):
        assert isomorphic(graphs["rdf"], graphs[other]), other
    for f in ("f=ttl", "f=jsonld"):
        assert isomorphic(graphs["f=rdf"], graphs[f]), f
    # and back out of rdflib again: Turtle of the parsed RDF/XML reads as the same graph
    again = Graph().parse(data=graphs["rdf"].serialize(format="turtle"), format="turtle")
    assert isomorphic(again, graphs["jsonld"])


# ---------------------------------------------------------------- a harvester's view


def test_harvester_gets_every_public_dataset_and_its_distributions(world: World):
    merged, pages, total = harvest(world)
    assert len(pages) == -(-total // PAGE_SIZE)
    found = datasets(merged)
    assert len(found) == total
    # what anonymous callers see, counted with an explicit filter on the superuser's connection
    with db.connect(world.db_url) as c:
        kinds = {
            r["kind"]
            for r in c.execute(
                "SELECT DISTINCT kind FROM assets WHERE sensitivity = 'public' AND retired_at IS NULL"
            ).fetchall()
        }
    registry = {d.removeprefix("registry-").removesuffix("-07319000") for d in found if d.startswith("registry-")}
    assert registry == kinds
    assert "actuators" not in registry  # every actuator is internal: no dataset
    assert f"coverage-{world.public_run}" in found
    assert f"coverage-{world.critical_run}" not in found
    assert "reference-municipality-07319000" in found and "reference-districts-07319000" in found
    assert not any("alkis-kauf" in d for d in found)  # attribution names no open licence
    downloads = 0
    with httpx.Client(timeout=60) as client:
        for ds in merged.subjects(RDF.type, DCAT.Dataset):
            assert merged.value(ds, DCATDE.contributorID) == URIRef(
                "http://dcat-ap.de/def/contributors/openGovernmentDataPortalRheinlandPfalz"
            )
            assert str(merged.value(ds, DCATDE.politicalGeocodingURI)).endswith("/municipalityKey/07319000")
            for dist in merged.objects(ds, DCAT.distribution):
                url = str(merged.value(dist, DCAT.accessURL))
                r = client.get(url)
                assert r.status_code == 200, (url, r.text[:200])
                if merged.value(dist, DCAT.downloadURL) is not None:  # a snapshot: media type, size, checksum
                    media = str(merged.value(dist, DCAT.mediaType)).rsplit("/assignments/media-types/", 1)[1]
                    assert r.headers["content-type"].startswith(media), url
                    assert float(merged.value(dist, DCAT.byteSize)) == len(r.content)
                    ags, name = url.rsplit("/", 2)[1:]
                    manifest = client.get(f"{world.url}/opendata/{ags}/manifest.json").json()
                    sums = {f["file"]: f["sha256"] for e in manifest["datasets"].values() for f in e["files"]}
                    assert sums[name] == hashlib.sha256(r.content).hexdigest()
                    downloads += 1
                    continue
                assert r.headers["content-type"].startswith("application/geo+json"), url
                doc = r.json()  # a listed layer is not empty for anonymous callers
                assert doc["features"] if doc["type"] == "FeatureCollection" else doc["geometry"], url
    assert downloads >= 3 * len({d for d in found if d.startswith("registry-")})
    service = next(merged.subjects(RDF.type, DCAT.DataService))
    assert URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0") in set(
        merged.objects(service, DCTERMS.conformsTo)
    )
    assert httpx.get(str(merged.value(service, DCAT.endpointURL))).status_code == 200


def test_attribution_travels_with_population_cells(world: World):
    merged, _, _ = harvest(world)
    texts = {str(t) for t in merged.objects(None, DCATDE.licenseAttributionByText)}
    assert any("Statistische Ämter des Bundes und der Länder" in t for t in texts)
    pop = next(d for d in merged.subjects(RDF.type, DCAT.Dataset) if "population" in str(d))
    dist = merged.value(pop, DCAT.distribution)
    assert merged.value(dist, DCTERMS.license) == URIRef("http://dcat-ap.de/def/licenses/dl-by-de/2.0")


def test_nothing_non_public_in_the_catalogue_even_for_a_planner(world: World):
    _, pages, _ = harvest(world)
    for headers in ({}, {"Authorization": f"Bearer {world.planner_key}"}):
        for f in ("rdf", "ttl", "jsonld"):
            for page in range(1, len(pages) + 1):
                r = httpx.get(f"{world.url}/catalog", params={"f": f, "page": str(page)}, headers=headers)
                assert r.status_code == 200
                leaked = sorted(s for s in world.secrets if s.encode() in r.content)
                assert leaked == [], (f, page, leaked[:3])
    planner, _, _ = harvest(world, {"Authorization": f"Bearer {world.planner_key}"})
    anonymous, _, _ = harvest(world)
    assert datasets(planner) == datasets(anonymous)


def test_publishing_a_run_adds_its_dataset(world: World):
    publication.publish(world.db_url, world.critical_run, "tests", True)
    try:
        merged, _, _ = harvest(world)
        assert f"coverage-{world.critical_run}" in datasets(merged)
    finally:
        publication.publish(world.db_url, world.critical_run, "tests", False)
    merged, _, _ = harvest(world)
    assert f"coverage-{world.critical_run}" not in datasets(merged)


def test_modified_since(world: World):
    _, _, total = harvest(world)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert harvest(world, modified_since=past)[2] == total
    later, _, n = harvest(world, modified_since=future)
    assert n == 0 and datasets(later) == set()
    # the view's links keep the filter
    first = Graph().parse(data=httpx.get(f"{world.url}/catalog", params={"modified_since": past}).content, format="xml")
    assert all("modified_since" in str(v) for v in first.objects(None, HYDRA.next))


@pytest.mark.parametrize(
    "query, names",
    [
        ({"f": "csv"}, "f"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page": "999"}, "page"),
        ({"modified_since": "yesterday"}, "modified_since"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_bad_parameters_are_400_naming_them(world: World, query: dict[str, str], names: str):
    r = httpx.get(f"{world.url}/catalog", params=query)
    assert r.status_code == 400
    assert names in r.json()["description"]


# ---------------------------------------------------------------- netzatlas catalog check


def test_catalog_check_reports_what_is_missing(world: World):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETZATLAS_")}
    env["NETZATLAS_DATABASE_URL"] = world.db_url
    bare = subprocess.run([CLI, "catalog", "check"], env=env, capture_output=True, text=True, timeout=120)
    assert bare.returncode == 1
    for setting in ("CATALOG_PUBLISHER", "CATALOG_CONTACT_EMAIL", "CATALOG_CONTRIBUTOR_ID", "BASE_URL"):
        assert f"NETZATLAS_{setting}" in bare.stderr
    assert "alkis-kauf" in bare.stdout  # the layer left out for its licence
    full = {**env, **SETTINGS, "NETZATLAS_BASE_URL": "https://geo.teststadt.example"}
    done = subprocess.run([CLI, "catalog", "check"], env=full, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    bad = {**full, "NETZATLAS_CATALOG_LICENSE": "all-rights-reserved"}
    done = subprocess.run([CLI, "catalog", "check"], env=bad, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "NETZATLAS_CATALOG_LICENSE" in done.stderr
    shown = subprocess.run([CLI, "catalog", "show", "-f", "ttl"], env=full, capture_output=True, timeout=120)
    g = Graph().parse(data=shown.stdout, format="turtle")
    assert (URIRef("https://geo.teststadt.example/catalog"), RDF.type, DCAT.Catalog) in g
    assert Literal("Stadtverwaltung Teststadt") in set(g.objects(None, None))


# ---------------------------------------------------------------- the data inventory (/inventory)


def test_inventory_anonymous_sees_the_catalogue_and_nothing_hidden(world: World):
    merged, _, _ = harvest(world)
    r = httpx.get(f"{world.url}/inventory")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert {e["id"] for e in doc["entries"]} == datasets(merged)
    assert {e["access_rights"].rsplit("/", 1)[1] for e in doc["entries"]} == {"PUBLIC"}
    for fmt in ("json", "csv", "html"):
        body = httpx.get(f"{world.url}/inventory", params={"f": fmt}).text
        assert not [s for s in world.secrets if s in body], fmt
        assert "NON_PUBLIC" not in body and "critical" not in body.lower()


def test_inventory_for_a_planner_counts_every_holding(world: World):
    planner = {"Authorization": f"Bearer {world.planner_key}"}
    doc = httpx.get(f"{world.url}/inventory", headers=planner).json()
    by_id = {e["id"]: e for e in doc["entries"]}
    with db.connect(world.db_url) as c:
        rows = c.execute(
            "SELECT kind, municipality, sensitivity, count(*) AS n FROM assets WHERE retired_at IS NULL "
            "GROUP BY 1, 2, 3"
        ).fetchall()
    assert any(r["sensitivity"] == "critical" for r in rows)
    for r in rows:
        suffix = "" if r["sensitivity"] == "public" else f"-{r['sensitivity']}"
        e = by_id[f"registry-{r['kind']}-{r['municipality']}{suffix}"]
        assert e["features"] == r["n"]
        right = {"public": "PUBLIC", "internal": "RESTRICTED", "critical": "NON_PUBLIC"}[r["sensitivity"]]
        assert e["access_rights"].endswith("/" + right)
        assert (e["reason"] is None) == (r["sensitivity"] == "public")
        assert e["catalogue"] == (r["sensitivity"] == "public")
    critical = next(e for e in doc["entries"] if e["sensitivity"] == "critical" and e["id"].startswith("registry-"))
    assert "KRITIS" in critical["reason"] and "anonymous" not in critical["readers"]
    # the closed-licence buildings and the unpublished critical run are holdings too
    assert any("alkis-kauf" in e["title"] and e["access_rights"].endswith("RESTRICTED") for e in doc["entries"])
    assert f"coverage-{world.critical_run}" in by_id
    assert by_id[f"coverage-{world.critical_run}"]["readers"] == ["planner", "admin"]
    public = {e["id"] for e in doc["entries"] if e["catalogue"]}
    assert public == {e["id"] for e in httpx.get(f"{world.url}/inventory").json()["entries"]}


def test_inventory_formats_and_bad_input(world: World):
    planner = {"Authorization": f"Bearer {world.planner_key}"}
    r = httpx.get(f"{world.url}/inventory", headers={**planner, "Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("id,layer,title") and len(lines) > 5
    html = httpx.get(f"{world.url}/inventory", headers={**planner, "Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html") and "NON_PUBLIC" in html.text
    for query in ({"f": "xml"}, {"page": "2"}):
        bad = httpx.get(f"{world.url}/inventory", params=query)
        assert bad.status_code == 400 and next(iter(query)) in bad.json()["description"]


# ---------------------------------------------------------------- open-data downloads (netzatlas opendata build)


def test_opendata_holds_nothing_of_internal_or_critical_assets(world: World):
    files = sorted(p for p in world.opendata.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".gpkg", ".geojson", ".csv", ".json"}
    with db.connect(world.db_url) as c:
        hidden = c.execute(
            "SELECT id::text, external_id, name, attributes FROM assets WHERE sensitivity <> 'public'"
        ).fetchall()
        public_keys = {
            k
            for r in c.execute("SELECT attributes FROM assets WHERE sensitivity = 'public'").fetchall()
            for k in r["attributes"]
        }
        public_ext = {
            r["external_id"] for r in c.execute("SELECT external_id FROM assets WHERE sensitivity = 'public'")
        }
    only_hidden = {k for r in hidden for k in r["attributes"]} - public_keys  # attributes only they have
    needles = {r["id"] for r in hidden} | {r["name"] for r in hidden if r["name"]} | {world.critical_run}
    needles |= {r["external_id"] for r in hidden} - public_ext
    needles |= only_hidden
    assert "SECRET site" in needles and len(needles) > 10
    for p in files:
        body = p.read_bytes()
        found = sorted(n for n in needles if n.encode() in body)
        assert found == [], (p.name, found[:5])
    # the files hold the public rows: the sensors of the GeoJSON are exactly the public ones
    doc = json.loads((world.opendata / "07319000" / "registry-sensors-07319000.geojson").read_text())
    with db.connect(world.db_url) as c:
        n = c.execute(
            "SELECT count(*) AS n FROM assets WHERE kind = 'sensors' AND sensitivity = 'public' AND retired_at IS NULL"
        ).fetchone()["n"]
    assert len(doc["features"]) == n > 0 and doc["license"] == "dl-by-de/2.0"
    assert not (world.opendata / "07319000" / f"coverage-{world.critical_run}-cells.csv").exists()
    assert (world.opendata / "07319000" / f"coverage-{world.public_run}-cells.gpkg").exists()
    assert not list(world.opendata.rglob("*.tif"))


def test_opendata_manifest_checksums_rebuild_and_urls(world: World):
    directory = world.opendata / "07319000"
    manifest = json.loads((directory / "manifest.json").read_text())
    for entry in manifest["datasets"].values():
        for f in entry["files"]:
            body = (directory / f["file"]).read_bytes()
            assert f["bytes"] == len(body) and f["sha256"] == hashlib.sha256(body).hexdigest()
    served = httpx.get(f"{world.url}/opendata/07319000/manifest.json").json()
    assert set(served["datasets"]) == set(manifest["datasets"])
    env = {**os.environ, "NETZATLAS_DATABASE_URL": world.db_url, "NETZATLAS_OPENDATA_DIR": str(world.opendata)}
    for _ in range(2):  # up to date with what earlier tests changed, then nothing to do
        again = subprocess.run([CLI, "opendata", "build"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 datasets built" in again.stdout, again.stdout + again.stderr
    with db.transaction(world.db_url, actor=demo.DEMO_ACTOR) as c:  # a district renamed: its layer's stamp moves
        c.execute("UPDATE districts SET note = 'renamed' WHERE id = (SELECT min(id) FROM districts)")
    again = subprocess.run([CLI, "opendata", "build"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "1 datasets built" in again.stdout, again.stdout + again.stderr
    for path, status in (
        ("/opendata/07319000/nope.csv", 404),
        ("/opendata/0731/registry-sensors-07319000.csv", 400),
        ("/opendata/07319000/..%2Fmanifest.json", 404),
        (f"/opendata/07319000/coverage-{world.critical_run}-cells.csv", 404),
    ):
        r = httpx.get(world.url + path)
        assert r.status_code == status and "description" in r.json(), (path, r.status_code)


# ---------------------------------------------------------------- OGC API Records (/collections/catalog)

RECORD_SCHEMAS = Path(__file__).parent / "fixtures" / "ogcapi-records"
FEATURES_SCHEMAS = "https://schemas.opengis.net/ogcapi/features/part1/1.0/openapi/schemas/"
RECORDS_CONF = "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/"


def _json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema: `nullable` adds null to the type; a `oneOf` whose first branch is the
    placeholder `{type: object, nullable: true}` (the record schema's way of saying "or null") becomes `anyOf` of
    null and the other branches, since read literally every object would match that branch and the other one."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    branches = node.get("oneOf")
    if branches and branches[0] == {"type": "object", "nullable": True}:
        del out["oneOf"]
        out["anyOf"] = [{"type": "null"}, *(_json_schema(b) for b in branches[1:])]
    elif node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


def record_validator():
    """A validator of recordGeoJSON.yaml (OGC API Records Part 1) with the files it refers to, offline."""
    import yaml
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    local = "https://netzatlas.invalid/ogcapi-records/"
    resources = []
    for f in sorted(RECORD_SCHEMAS.glob("*.yaml")):
        base = FEATURES_SCHEMAS if f.stem.endswith("GeoJSON") and f.stem != "recordGeoJSON" else local
        schema = _json_schema(yaml.safe_load(f.read_text()))
        resources.append((base + f.name, Resource(contents=schema, specification=DRAFT202012)))
    registry = Registry().with_resources(resources)
    return Draft202012Validator({"$ref": local + "recordGeoJSON.yaml"}, registry=registry)


def records(w: World, headers: dict[str, str] | None = None, **params: str) -> dict:
    r = httpx.get(f"{w.url}/collections/catalog/items", params={"limit": "10000", **params}, headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    return r.json()


def test_records_are_the_datasets_of_the_dcat_catalogue(world: World):
    merged, _, total = harvest(world)
    titles = {
        str(d).rsplit("#", 1)[1]: str(merged.value(d, DCTERMS.title)) for d in merged.subjects(RDF.type, DCAT.Dataset)
    }
    for headers in ({}, {"Authorization": f"Bearer {world.planner_key}"}):
        doc = records(world, headers)
        assert doc["type"] == "FeatureCollection" and doc["numberMatched"] == total == len(doc["features"])
        assert {f["id"]: f["properties"]["title"] for f in doc["features"]} == titles
        leaked = sorted(s for s in world.secrets if s in json.dumps(doc))
        assert leaked == []


def test_records_validate_against_the_record_schema(world: World):
    validator = record_validator()
    # the check can fail: a record without id, or with a time of the wrong shape, is refused
    assert not validator.is_valid({"type": "Feature", "geometry": None, "properties": {}})
    assert not validator.is_valid(
        {"id": "x", "type": "Feature", "geometry": None, "properties": {}, "time": {"date": "1.1.2020"}}
    )
    doc = records(world)
    assert doc["features"]
    for f in doc["features"]:
        errors = sorted(validator.iter_errors(f), key=lambda e: list(e.path))
        assert errors == [], (f["id"], [f"{list(e.path)}: {e.message}" for e in errors[:3]])
        rels = [lk["rel"] for lk in f["links"]]
        assert rels.count("self") == 1 and rels.count("collection") == 1 and "profile" in rels
        assert f["properties"]["type"] == "dataset" and f["properties"]["license"]
    sensors = next(f for f in doc["features"] if f["id"] == "registry-sensors-07319000")
    assert sensors["geometry"]["type"] == "Polygon"
    assert sensors["properties"]["license"] == "DL-DE-BY-2.0"
    links = {(lk["rel"], lk.get("type")): lk for lk in sensors["links"]}
    assert ("items", "application/geo+json") in links and ("related", "application/json") in links
    enclosures = [lk for lk in sensors["links"] if lk["rel"] == "enclosure"]
    assert {lk["type"] for lk in enclosures} == {"application/geopackage+sqlite3", "application/geo+json", "text/csv"}
    with httpx.Client(timeout=60) as client:
        for lk in [*enclosures, links[("items", "application/geo+json")], links[("related", "application/json")]]:
            r = client.get(lk["href"])
            assert r.status_code == 200 and r.headers["content-type"].startswith(lk["type"]), lk
            if "length" in lk:
                assert len(r.content) == lk["length"]
        one = client.get(sensors["links"][0]["href"])
        assert one.status_code == 200 and one.headers["content-type"].startswith("application/geo+json")
        assert one.json() == sensors
        assert validator.is_valid(one.json())
    population = next(f for f in doc["features"] if f["id"].startswith("reference-population-"))
    assert population["time"]["interval"][0].endswith("-01-01")
    assert "Statistische Ämter" in population["properties"]["rights"]


def test_records_catalog_collection_conformance_and_listing(world: World):
    r = httpx.get(f"{world.url}/collections/catalog")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    cat = r.json()
    assert cat["id"] == "catalog" and cat["type"] == "Collection" and cat["itemType"] == "record"
    assert RECORDS_CONF + "record-collection" in cat["conformsTo"]
    rels = {lk["rel"] for lk in cat["links"]}
    assert {"self", "items", "alternate", "profile"} <= rels
    x1, y1, x2, y2 = cat["extent"]["spatial"]["bbox"][0]
    assert 8.2 < x1 < x2 < 8.5 and 49.5 < y1 < y2 < 49.8  # Worms
    listed = httpx.get(f"{world.url}/collections").json()["collections"]
    assert [c["itemType"] for c in listed].count("record") == 1 and listed[-1]["id"] == "catalog"
    assert all(c["itemType"] == "feature" for c in listed[:-1])
    conf = httpx.get(f"{world.url}/conformance").json()["conformsTo"]
    for name in ("record-core", "record-collection", "records-api", "record-core-query-parameters", "json"):
        assert RECORDS_CONF + name in conf
    for path in (
        "/collections/catalog",
        "/collections/catalog/items",
        "/collections/catalog/items/registry-sensors-07319000",
    ):
        page = httpx.get(world.url + path, headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        assert "registry-sensors-07319000" in page.text
    assert "/collections/catalog?f=html" in httpx.get(f"{world.url}/collections", params={"f": "html"}).text
    # not a feature collection: its queryables and tiles do not exist, writes find no collection
    assert httpx.get(f"{world.url}/collections/catalog/queryables").status_code == 404
    assert httpx.get(f"{world.url}/collections/catalog/items/nope").status_code == 404
    assert httpx.post(f"{world.url}/collections/catalog/items", json={}).status_code in (401, 404)


def test_records_query_parameters(world: World):
    everything = {f["id"]: f for f in records(world)["features"]}

    def ids(**params: str) -> set[str]:
        return {f["id"] for f in records(world, **params)["features"]}

    # q: case-insensitive, comma = any, words of a term in order
    assert ids(q="DISTRICTS") == {i for i in everything if i.startswith("reference-districts-")} != set()
    assert ids(q="districts,population grid") == ids(q="districts") | ids(q="population grid")
    assert ids(q="grid population") == set()  # the words in the other order
    assert ids(q="INSPIRE  grid") == ids(q="inspire grid") != set()  # several spaces between the words
    # bbox: far away none, the city all with a geometry
    assert ids(bbox="10,50,10.1,50.1") == set()
    assert ids(bbox="8.2,49.5,8.5,49.8") == {i for i, f in everything.items() if f["geometry"]}
    # datetime against the record's time (the temporal coverage)
    population = next(f for i, f in everything.items() if i.startswith("reference-population-"))
    year = population["time"]["interval"][0][:4]
    assert population["id"] in ids(datetime=f"{year}-06-01T00:00:00Z")
    assert population["id"] not in ids(datetime=f"{int(year) + 1}-06-01T00:00:00Z/..")
    assert all(everything[i]["time"] for i in ids(datetime="../2100-01-01T00:00:00Z"))
    # type, ids, externalIds, and their conjunction
    assert ids(type="dataset") == set(everything) and ids(type="service") == set()
    some = sorted(everything)[:2]
    assert ids(ids=",".join(some)) == set(some)
    assert ids(ids=",".join(some), q="districts") == {i for i in some if "districts" in i}
    assert ids(externalIds="x:y") == set()
    # paging: limit and offset with next/prev links that reach every record once
    seen, href, pages = [], f"{world.url}/collections/catalog/items?limit=4", 0
    while href:
        page = httpx.get(href).json()
        seen += [f["id"] for f in page["features"]]
        links = {lk["rel"]: lk["href"] for lk in page["links"]}
        assert ("prev" in links) == (pages > 0)
        href, pages = links.get("next"), pages + 1
    assert seen == sorted(everything) and pages == -(-len(everything) // 4)
    for query, name in (
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"f": "xml"}, "f"),
        ({"filter": "x=1"}, "filter"),
    ):
        r = httpx.get(f"{world.url}/collections/catalog/items", params=query)
        assert r.status_code == 400 and name in r.json()["description"], (query, r.text)


def test_gdal_lists_the_feature_collections_beside_the_catalog(world: World):
    """GDAL's OAPIF driver (Debian gdal-bin) reads /collections with the catalog in it without complaint."""
    res = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{world.url}"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    print(res.stdout)
    assert "sensors" in res.stdout and "ERROR" not in res.stderr
    # GDAL 3.6 lists the catalog as a layer of polygons (it does not look at itemType): it reads as one
    total = records(world)["numberMatched"]
    res = subprocess.run(
        ["ogrinfo", "-ro", "-al", f"OAPIF:{world.url}", "catalog"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0 and "ERROR" not in res.stderr, res.stderr
    assert f"Feature Count: {total}" in res.stdout or res.stdout.count("OGRFeature(catalog)") == total, res.stdout[
        :2000
    ]
    assert res.stdout.count("OGRFeature(catalog)") == total
