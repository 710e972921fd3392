"""The open-data downloads at stable URLs: /opendata/{ags}/{file}, as written by `netzatlas opendata build`.

Only files listed in the municipality's manifest are served, and only while their dataset is in the public
catalogue now (read as the anonymous caller): a run withdrawn after the last build is not served meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from netzatlas.api.catalog import public_datasets
from netzatlas.api.errors import bad_request, not_found
from netzatlas.catalog import opendata
from netzatlas.config import get_settings

router = APIRouter()


@router.get("/opendata/{ags}/{file}", tags=["open data"])
async def download(request: Request, ags: str, file: str) -> Response:
    """A snapshot file, or the municipality's manifest.json (sizes, SHA-256 checksums, licence, attribution)."""
    if not opendata.AGS.match(ags):
        raise bad_request(f"ags must be an 8-digit municipality key, got {ags!r}")
    if not opendata.FILE_NAME.match(file):
        raise bad_request(f"not a file name: {file!r}")
    directory = opendata.root(get_settings()) / ags
    manifest = opendata.read_manifest(directory)
    public = {d.id for d in await public_datasets(request)}
    listed = {k: v for k, v in manifest["datasets"].items() if k in public}
    if file == "manifest.json":
        if not listed:
            raise not_found(f"no open-data downloads for {ags}")
        return JSONResponse({**manifest, "datasets": listed})
    for entry in listed.values():
        for f in entry["files"]:
            if f["file"] == file and (directory / file).is_file():
                return FileResponse(directory / file, media_type=f["media_type"], filename=file)
    raise not_found(f"no open-data file {file!r} for {ags}")
