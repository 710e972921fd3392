"""What a delivery file is: its format by extension, and safe unpacking of zip archives.

Everything that makes a file unreadable as a whole (empty, unknown extension, corrupt or hostile zip,
an incomplete shapefile, too large) is a DeliveryError with a one-line message.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from netzatlas.config import get_settings

# Extension -> format name. Zips hold shapefiles (or any of the other formats).
FORMATS = {
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".fgb": "flatgeobuf",
    ".kml": "kml",
    ".csv": "csv",
    ".txt": "csv",
    ".shp": "shapefile",
    ".zip": "zip",
}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf")
# Documentation a publisher puts next to the data in a zip: listed in the report as ignored, never read as data.
DOC_SUFFIXES = (".txt", ".pdf", ".md", ".html", ".htm", ".rtf", ".doc", ".docx", ".odt")
# A .txt may be a CSV (as a lone file it is read as one); in a zip it is documentation when other data files sit
# next to it or when its name says so.
DOC_NAMES = ("readme", "liesmich", "lies_mich", "license", "licence", "lizenz", "hinweis", "hinweise", "changelog")
MAX_FILE_BYTES = 2 * 1024**3  # a delivery file (or a zip) larger than this is refused
# The zip limits (members, total uncompressed size, compression ratio) are settings: NETZATLAS_IMPORT_MAX_ZIP_*.
# Members this small may compress as well as they like (an empty .cpg, a constant column).
RATIO_FLOOR_BYTES = 64 * 1024


class DeliveryError(ValueError):
    """The delivery cannot be read at all; the message says why in one line."""


@dataclass
class Delivery:
    path: Path  # the file as delivered
    format: str  # gpkg, geojson, flatgeobuf, kml, csv, shapefile
    sources: list[Path]  # files to read (the unpacked members of a zip, or the file itself)
    sha256: str
    workdir: Path | None = None  # temporary directory of unpacked members
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # zip members not read (documentation, unknown types)

    def cleanup(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Delivery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DeliveryError(
            f"{path.name}: unsupported file type {path.suffix or '(no extension)'!r}; "
            f"deliver one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def _safe_member(name: str) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise DeliveryError(f"zip entry {name!r} points outside the archive (path traversal); refused")
    return p


def _ratio(unpacked: int, packed: int) -> float:
    return unpacked / max(packed, 1)


def _check_zip(path: Path, infos: list[zipfile.ZipInfo], max_unzipped: int) -> None:
    """Refuse a zip from its directory alone, before anything is unpacked: too many members, too large unpacked,
    or a compression ratio (per member or overall) that only zip bombs reach."""
    settings = get_settings()
    max_members, max_ratio = settings.import_max_zip_members, settings.import_max_zip_ratio
    refused = "refused before unpacking"
    if len(infos) > max_members:
        raise DeliveryError(
            f"{path.name}: {len(infos):,} entries, more than the limit of {max_members:,}; {refused} "
            "(NETZATLAS_IMPORT_MAX_ZIP_MEMBERS)"
        )
    for info in infos:
        _safe_member(info.filename)
        if info.file_size > RATIO_FLOOR_BYTES and _ratio(info.file_size, info.compress_size) > max_ratio:
            raise DeliveryError(
                f"zip entry {info.filename!r} expands {_ratio(info.file_size, info.compress_size):,.0f}x, more than "
                f"the limit of {max_ratio:g}x; {refused} (a zip bomb?)"
            )
    total = sum(i.file_size for i in infos)
    if total > max_unzipped:
        raise DeliveryError(
            f"{path.name}: {total:,} bytes unpacked, more than the limit of {max_unzipped:,}; {refused} "
            "(NETZATLAS_IMPORT_MAX_UNZIPPED_MB)"
        )
    if total > RATIO_FLOOR_BYTES and _ratio(total, path.stat().st_size) > max_ratio:
        raise DeliveryError(
            f"{path.name}: expands {_ratio(total, path.stat().st_size):,.0f}x overall, more than the limit of "
            f"{max_ratio:g}x; {refused} (a zip bomb?)"
        )


def _unzip(path: Path, max_unzipped: int) -> tuple[Path, list[Path]]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DeliveryError(f"{path.name}: not a readable zip archive (corrupt or truncated)") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        _check_zip(path, infos, max_unzipped)
        bad = None
        try:
            bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DeliveryError(f"{path.name}: corrupt zip archive ({e})") from None
        if bad:
            raise DeliveryError(f"{path.name}: corrupt zip entry {bad!r} (CRC check failed)")
        workdir = Path(tempfile.mkdtemp(prefix="netzatlas-delivery-"))
        members = []
        for info in infos:
            rel = _safe_member(info.filename)
            if rel.name.startswith(".") or "__MACOSX" in rel.parts:
                continue
            target = workdir.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            members.append(target)
    return workdir, members


def _check_shapefile(shp: Path) -> None:
    siblings = {p.suffix.lower(): p for p in shp.parent.glob(shp.stem + ".*")}
    missing = [ext for ext in SHAPEFILE_PARTS if ext not in siblings]
    if missing:
        raise DeliveryError(f"shapefile {shp.name} is incomplete: missing {', '.join(missing)}")
    if ".prj" not in siblings:
        # not fatal: a profile may state the CRS; reading reports a missing CRS otherwise
        pass


def _is_doc_name(p: Path) -> bool:
    stem = p.stem.lower()
    return any(stem == n or stem.startswith((n + "_", n + "-", n + ".")) for n in DOC_NAMES)


def _documentation(members: list[Path]) -> list[Path]:
    """The zip members that are documentation: by suffix, except .txt files that are the delivery's only data."""
    docs = [m for m in members if m.suffix.lower() in DOC_SUFFIXES and m.suffix.lower() != ".txt"]
    txt = [m for m in members if m.suffix.lower() == ".txt"]
    other_data = any(FORMATS.get(m.suffix.lower()) not in (None, "zip") and m.suffix.lower() != ".txt" for m in members)
    docs += [m for m in txt if other_data or _is_doc_name(m)]
    return docs


def _shapefile_part(m: Path, shps: list[Path]) -> bool:
    return any(m.parent == s.parent and m.name.lower().startswith(s.stem.lower() + ".") for s in shps)


def open_delivery(path: Path, max_bytes: int = MAX_FILE_BYTES, max_unzipped: int | None = None) -> Delivery:
    """Check a delivery file and unpack it if zipped. Use as a context manager to remove the unpacked files."""
    path = Path(path)
    if max_unzipped is None:
        max_unzipped = get_settings().import_max_unzipped_mb * 1024 * 1024
    if not path.is_file():
        raise DeliveryError(f"{path}: no such file")
    fmt = format_of(path)
    size = path.stat().st_size
    if size == 0:
        raise DeliveryError(f"{path.name}: the file is empty")
    if size > max_bytes:
        raise DeliveryError(f"{path.name}: {size:,} bytes, more than the limit of {max_bytes:,}")
    digest = sha256_of(path)
    if fmt != "zip":
        if fmt == "shapefile":
            _check_shapefile(path)
        return Delivery(path, fmt, [path], digest)
    workdir, members = _unzip(path, max_unzipped)
    delivery = Delivery(path, "", [], digest, workdir)
    try:
        docs = _documentation(members)
        members = [m for m in members if m not in docs]
        shps = [m for m in members if m.suffix.lower() == ".shp"]
        if shps:
            for shp in shps:
                _check_shapefile(shp)
            delivery.format, delivery.sources = "shapefile", sorted(shps)
        else:
            readable = [m for m in members if FORMATS.get(m.suffix.lower()) not in (None, "zip")]
            orphans = [m.name for m in members if m.suffix.lower() in (".dbf", ".shx")]
            if orphans and not readable:
                raise DeliveryError(f"{path.name}: shapefile parts {', '.join(orphans)} without their .shp")
            if not readable:
                raise DeliveryError(f"{path.name}: the zip holds no file of a supported type")
            formats = {FORMATS[m.suffix.lower()] for m in readable}
            if len(formats) > 1:
                raise DeliveryError(f"{path.name}: mixes formats ({', '.join(sorted(formats))}); deliver one per zip")
            delivery.format, delivery.sources = formats.pop(), sorted(readable)
        unread = [m for m in members if m not in delivery.sources and not _shapefile_part(m, shps)]
        delivery.ignored = sorted(
            [f"{m.relative_to(workdir)} (documentation)" for m in docs]
            + [f"{m.relative_to(workdir)} (not a supported type)" for m in unread]
        )
    except BaseException:
        delivery.cleanup()
        raise
    return delivery
