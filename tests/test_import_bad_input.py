"""A corpus of bad deliveries: each is a clear error and nothing is written."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from netzatlas.importers.deliveries import run_import

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
