"""A corpus of bad deliveries: each is a clear error and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from shapely.geometry import LineString

from netzatlas.config import get_settings
from netzatlas.importers.deliveries import run_import
from netzatlas.importers.files import DeliveryError, open_delivery
from netzatlas.importers.profiles import ProfileError, load_profile
from netzatlas.registry.kinds import KINDS_BY_ID
from netzatlas.registry.validation import check_common, check_geometry

from . import import_helpers as h


def _reject(conn, path: Path, tmp_path: Path, **kw) -> dict:
    _sid, status, report = run_import(
        path, "telco", kw.pop("profile", None), url=conn.info.dsn, home=tmp_path / "home", **kw
    )
    assert status == "rejected"
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0
    return report.to_json()


def _csv(tmp_path: Path, name: str, body: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    return p


HEADER = "external_id,node_type,lon,lat\n"


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("empty", "the file is empty"),
        ("extension", "unsupported file type '.xlsx'"),
        ("corrupt_zip", "not a readable zip archive"),
        ("traversal", "path traversal"),
        ("missing_parts", "missing .dbf"),
        ("not_utf8", "not UTF-8"),
        ("no_crs", "states no coordinate reference system"),
        ("garbage_gpkg", "cannot be read"),
    ],
)
def test_unreadable_deliveries(conn, tmp_path, case, expect):
    if case == "empty":
        p = _csv(tmp_path, "network-nodes.csv", b"")
    elif case == "extension":
        p = _csv(tmp_path, "network-nodes.xlsx", "x")
    elif case == "corrupt_zip":
        good = h.delivery("shapefile", tmp_path)
        p = _csv(tmp_path, "corrupt.zip", good.read_bytes()[: good.stat().st_size // 2])
    elif case == "traversal":
        p = tmp_path / "evil.zip"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("../../etc/network-nodes.csv", HEADER + "N1,pop,8.33,49.58\n")
    elif case == "missing_parts":
        d = tmp_path / "shp"
        d.mkdir()
        g, c = h.nodes()
        h.write_layer(d / "network-nodes.shp", "network-nodes", g, c, "ESRI Shapefile")
        p = h.zip_files(tmp_path / "incomplete.zip", [d / "network-nodes.shp", d / "network-nodes.shx"])
    elif case == "not_utf8":
        p = _csv(
            tmp_path, "network-nodes.csv", (HEADER + "N1,pop,8.33,49.58\nStraße,pop,8.33,49.58\n").encode("cp1252")
        )
    elif case == "no_crs":
        d = tmp_path / "shp"
        d.mkdir()
        g, c = h.nodes()
        h.write_layer(d / "network-nodes.shp", "network-nodes", g, c, "ESRI Shapefile")
        (d / "network-nodes.prj").unlink()
        p = h.zip_files(tmp_path / "noprj.zip", sorted(d.glob("network-nodes.*")))
    else:
        p = _csv(tmp_path, "network-nodes.gpkg", b"SQLite format 3\x00" + b"\x00" * 200)
    report = _reject(conn, p, tmp_path)
    text = (report["error"] or "") + " ".join(x["reason"] for x in report["problems"])
    assert expect in text, report


def test_mixed_geometry_types_and_non_finite_coordinates(conn, tmp_path):
    p = _csv(
        tmp_path,
        "network-nodes.csv",
        "external_id,node_type,wkt\n"
        "N1,pop,POINT (452000 5492000)\n"
        'N2,pop,"LINESTRING (452000 5492000, 452100 5492100)"\n'
        "N3,pop,POINT (nan 5492000)\n"
        "N4,pop,POINT (inf 5492000)\n",
    )
    report = _reject(conn, p, tmp_path)
    by_index = {x["index"]: x["reason"] for x in report["problems"]}
    assert "expected Point for network-nodes, got LineString" in by_index[1]
    assert "finite" in by_index[2] and "finite" in by_index[3]
    assert 0 not in by_index


def test_swapped_axes_and_outside_coordinates(conn, tmp_path):
    swapped = _csv(
        tmp_path,
        "network-nodes.csv",
        HEADER + "".join(f"N{i},pop,{49.57 + i * 0.001},{8.35 + i * 0.001}\n" for i in range(5)),
    )
    report = _reject(conn, swapped, tmp_path)
    assert report["problem_counts"] == {"swapped_axes": 1}
    far = _csv(tmp_path, "network-nodes.csv", HEADER + "N1,pop,8.33,49.58\nN2,pop,9.5,49.58\n")
    report = _reject(conn, far, tmp_path)
    (p,) = report["problems"]
    assert p["index"] == 1 and "outside" in p["reason"]


def test_duplicate_external_ids_in_the_delivery(conn, tmp_path):
    p = _csv(tmp_path, "network-nodes.csv", HEADER + "N1,pop,8.33,49.58\nN1,manhole,8.331,49.58\n")
    report = _reject(conn, p, tmp_path)
    assert report["problem_counts"] == {"duplicate_id": 1} and report["problems"][0]["index"] == 1


def test_huge_csv_field_is_a_clear_error(conn, tmp_path):
    p = _csv(tmp_path, "network-nodes.csv", HEADER + "N1,pop," + "9" * 2_000_000 + ",49.58\n")
    report = _reject(conn, p, tmp_path)
    assert "not a readable CSV" in report["error"]


def test_very_large_csv_is_refused_by_the_cli(conn, tmp_path, db_url):
    p = tmp_path / "network-nodes.csv"
    with p.open("w") as f:
        f.write(HEADER)
        row = "N{},pop,8.33,49.58\n"
        for i in range(200_000):
            f.write(row.format(i))
    assert p.stat().st_size > 3 * 1024 * 1024
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "netzatlas"), "import", str(p), "--operator", "telco"],
        env={
            **os.environ,
            "NETZATLAS_DATABASE_URL": db_url,
            "NETZATLAS_IMPORT_MAX_MB": "2",
            "NETZATLAS_HOME": str(tmp_path / "home"),
        },
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "more than the limit" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0


# ---------------------------------------------------------------- zips refused before unpacking


def _temp_deliveries() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("netzatlas-delivery-*")}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("members", "expect"),
    [
        # 1,000 members of 1 MiB each (1 GiB unpacked)
        ({f"part-{i:04}.geojson": b"\0" * (1 << 20) for i in range(1000)}, "1,000 entries, more than the limit of 500"),
        # 400 members of 1 MiB zeros: each expands about 1,000x
        ({f"part-{i:03}.geojson": b"\0" * (1 << 20) for i in range(400)}, "expands"),
        # 400 small members: none alone is suspicious, together they expand several hundred times
        ({f"part-{i:03}.geojson": b" " * 60_000 for i in range(400)}, "overall"),
    ],
    ids=["members", "ratio", "overall-ratio"],
)
def test_zip_bombs_are_refused_before_unpacking(conn, tmp_path, members, expect):
    p = _zip(tmp_path / "bomb.zip", members)
    before = _temp_deliveries()
    report = _reject(conn, p, tmp_path)
    assert expect in report["error"] and "refused before unpacking" in report["error"], report["error"]
    assert not _temp_deliveries() - before  # nothing was unpacked (others may finish theirs meanwhile)


def test_zip_over_the_unpacked_size_limit(tmp_path):
    p = _zip(tmp_path / "big.zip", {"network-nodes.geojson": os.urandom(2 << 20)})
    with pytest.raises(DeliveryError, match="bytes unpacked, more than the limit of 1,048,576"):
        open_delivery(p, max_unzipped=1 << 20)


# ---------------------------------------------------------------- profiles


def test_profile_files_must_be_small_regular_files(tmp_path):
    with pytest.raises(ProfileError, match="not a regular file"):
        load_profile("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "#" * (2 << 20))
    with pytest.raises(ProfileError, match="more than 1,048,576 bytes"):
        load_profile(big)


def test_profile_errors_say_where_not_what(tmp_path):
    secret = "s3cret-value-from-a-server-file"
    p = tmp_path / "broken.yaml"
    p.write_text(f"name: x\nlayers:\n  - target: network-nodes\n    {secret}: [unclosed\n")
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    assert "line" in str(e.value) and secret not in str(e.value)
    j = tmp_path / "broken.json"
    j.write_text('{"name": "' + secret + '", }')
    with pytest.raises(ProfileError) as e:
        load_profile(j)
    assert "line 1" in str(e.value) and secret not in str(e.value)
    odd = tmp_path / "odd.yaml"
    odd.write_text("layers:\n  - [1, 2]\n  - target: [network-nodes]\n")
    with pytest.raises(ProfileError, match="layer 0"):
        load_profile(odd)


# ---------------------------------------------------------------- the registry's rules, shared with the API


def _geojson(tmp_path: Path, name: str, features: list[dict]) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return p


def _feature(geometry: dict, **props) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_names_text_and_lines_are_checked_like_the_api(conn, tmp_path):
    point = {"type": "Point", "coordinates": [8.33, 49.58]}
    nodes = _geojson(
        tmp_path,
        "network-nodes.geojson",
        [
            _feature(point, external_id="N1", node_type="pop", name="n" * 501),
            _feature(point, external_id="N3" + "x" * 300, node_type="pop"),
            _feature(point, external_id="N4", node_type="pop", name="fine"),
        ],
    )
    report = _reject(conn, nodes, tmp_path)
    by_index = {x["index"]: (x["field"], x["reason"]) for x in report["problems"]}
    assert by_index[0] == ("name", "501 characters, more than the limit of 500")
    assert by_index[1][0] == "external_id" and "more than the limit of 200" in by_index[1][1]
    assert 2 not in by_index
    # GDAL ends strings at a NUL byte, so one reaches the rules only from the command line or the API
    problems = check_common({"name": "bad\x00name", "operator": "telco\x00", "external_id": "N\x00"})
    assert {p.field for p in problems if "NUL" in p.reason} == {"name", "operator", "external_id"}
    bowtie = {"type": "LineString", "coordinates": [[8.33, 49.58], [8.34, 49.59], [8.34, 49.58], [8.33, 49.59]]}
    routes = _geojson(tmp_path, "fiber-routes.geojson", [_feature(bowtie, external_id="R1", route_type="duct")])
    (problem,) = _reject(conn, routes, tmp_path)["problems"]
    assert problem["field"] == "geometry" and "not simple" in problem["reason"]


def test_vertex_cap_is_shared_and_configurable(monkeypatch):
    kind = KINDS_BY_ID["fiber-routes"]
    line = LineString([(450000 + i * 0.01, 5490000 + (i % 2) * 0.01) for i in range(100_001)])
    _, problems = check_geometry(kind, line)
    assert [p.field for p in problems] == ["geometry"] and "100,001 vertices" in problems[0].reason
    monkeypatch.setenv("NETZATLAS_MAX_VERTICES", "200000")
    get_settings.cache_clear()
    try:
        assert check_geometry(kind, line)[1] == []
    finally:
        monkeypatch.delenv("NETZATLAS_MAX_VERTICES")
        get_settings.cache_clear()
