"""Raster previews are rendered once per run and output, stored beside the run's files, then served from there;
the access rules of the run apply to every request, whether the stored file exists or not."""

from __future__ import annotations

import io
import os

import httpx
from PIL import Image

from netzatlas import db
from netzatlas.api import previews
from netzatlas.coverage import runs

from .conftest import Served


def _preview(served: Served, run_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{served.url}/jobs/{run_id}/outputs/rsrp.tif/preview.png", headers=headers or {}, timeout=120)


def test_preview_is_rendered_once_then_served_from_its_file(served: Served):
    planner = {"Authorization": f"Bearer {served.planner_key}"}
    run = runs.start(served.db_url, "mobile", None, {"resolution_m": 100})
    assert run["status"] == "succeeded", run["message"]
    # the demo's sites are public; the run is made as confidential as a critical input would have made it (its
    # trigger keeps a finished run's sensitivity, so it is bypassed for this one statement of this session)
    with db.connect(served.db_url, autocommit=True) as c, c.transaction():
        c.execute("SET LOCAL session_replication_role = replica")
        c.execute("UPDATE coverage_runs SET sensitivity = 'critical' WHERE id = %s", (run["id"],))
    run = runs.get(served.db_url, run["id"])
    assert run["sensitivity"] == "critical"
    stored = previews.preview_path(run, "rsrp.tif")
    assert not stored.exists()

    first = _preview(served, run["id"], planner)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "private, max-age=3600"
    assert stored.is_file() and stored.read_bytes() == first.content
    assert stored.stat().st_mode & 0o777 == 0o600
    assert Image.open(io.BytesIO(first.content)).mode == "RGBA"
    assert [p.name for p in stored.parent.iterdir() if p.name.endswith(".tmp")] == []  # nothing half-written left
    mtime = stored.stat().st_mtime_ns

    second = _preview(served, run["id"], planner)
    assert second.status_code == 200 and second.content == first.content
    assert stored.stat().st_mtime_ns == mtime  # not rendered again

    # what is served is the stored file: a different file in its place is what the next request gets
    marker = io.BytesIO()
    Image.new("RGBA", (2, 2), (1, 2, 3, 4)).save(marker, "PNG")
    os.replace(_write(stored.with_name("marker.png"), marker.getvalue()), stored)
    assert _preview(served, run["id"], planner).content == marker.getvalue()

    # the run's access rules still apply with the file on disk: not for the anonymous caller nor for a partner
    assert _preview(served, run["id"]).status_code == 404
    assert _preview(served, run["id"], {"Authorization": f"Bearer {served.partner_key}"}).status_code == 404
    # publishing opens the run's aggregates, never its rasters or their previews
    published = httpx.post(f"{served.url}/jobs/{run['id']}/publication", headers=planner)
    assert published.status_code == 200, published.text
    try:
        assert _preview(served, run["id"]).status_code == 404
    finally:
        assert httpx.delete(f"{served.url}/jobs/{run['id']}/publication", headers=planner).status_code == 200
    # class rasters still have no preview, stored file or not
    assert _preview_of(served, run["id"], "classes.tif", planner).status_code == 404


def test_public_run_preview_is_everyones_from_its_file(served: Served):
    run = runs.start(served.db_url, "mobile", None, {"resolution_m": 100, "inputs": "public"})
    assert run["status"] == "succeeded" and run["sensitivity"] == "public"
    first = _preview(served, run["id"])
    assert first.status_code == 200 and first.headers["cache-control"] == "public, max-age=3600"
    stored = previews.preview_path(run, "rsrp.tif")
    mtime = stored.stat().st_mtime_ns
    assert _preview(served, run["id"]).content == first.content
    assert stored.stat().st_mtime_ns == mtime


def _preview_of(served: Served, run_id: str, name: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{served.url}/jobs/{run_id}/outputs/{name}/preview.png", headers=headers, timeout=60)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
