"""`netzatlas catalog ...`: check the open-data catalogue's configuration and content, print the catalogue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from netzatlas import db
from netzatlas.catalog import dcat
from netzatlas.catalog.datasets import build, missing_settings, read_public
from netzatlas.config import get_settings

app = typer.Typer(help="The open-data catalogue (DCAT-AP.de 2.0 at /catalog).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


opendata_app = typer.Typer(help="Open-data downloads (per municipality, public layers only).", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="catalog")
    parent.add_typer(opendata_app, name="opendata")


@opendata_app.command("build")
def opendata_build(
    out: Annotated[Path | None, typer.Option("--out", help="directory (default: <home>/opendata)")] = None,
) -> None:
    """Write GeoPackage, GeoJSON and CSV snapshots of every public layer and published coverage result, per
    municipality, read as the anonymous caller; rebuild only datasets whose change stamp moved."""
    from netzatlas.catalog import opendata

    settings = get_settings()
    with db.connect() as conn:
        done = opendata.build_all(conn, settings, out)
    where = out or opendata.root(settings)
    console.print(
        f"{done['built']} datasets built, {done['kept']} unchanged, {done['removed']} removed in {where}",
        highlight=False,
    )


@app.command("check")
def check() -> None:
    """Say what the catalogue lacks (settings of its metadata, layers left out for their licence); exit 1 if
    anything is missing."""
    settings = get_settings()
    problems = missing_settings(settings)
    with db.connect() as conn:
        datasets, left = build(read_public(conn), settings)
    console.print(f"{len(datasets)} datasets in the catalogue")
    for item in left:
        console.print(f"left out: {item.layer}: {item.reason}", highlight=False, soft_wrap=True)
    for p in problems:
        err.print(f"[red]missing:[/red] {p}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print("the catalogue's metadata is complete")


@app.command("show")
def show(
    format: Annotated[str, typer.Option("--format", "-f", help="rdf (RDF/XML), ttl or jsonld")] = "ttl",
) -> None:
    """Print the whole catalogue (one page) as the API serves it to anonymous callers."""
    if format not in dcat.FORMATS:
        err.print(f"[red]error:[/red] --format must be one of {', '.join(dcat.FORMATS)}, got {format!r}")
        raise typer.Exit(1)
    settings = get_settings()
    with db.connect() as conn:
        datasets, _ = build(read_public(conn), settings)
    base = (settings.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    modified = max((d.modified for d in datasets), default=None)
    g = dcat.graph(datasets, len(datasets), 1, 1, base, settings, {}, modified)
    sys.stdout.buffer.write(dcat.serialize(g, format))
