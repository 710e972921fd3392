"""Commands for partner deliveries: `import`, `submissions list|show`, `template` (registered by netzatlas.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from netzatlas import db
from netzatlas.config import get_settings
from netzatlas.progress import progress, reporter

console = Console()
err = Console(stderr=True)
submissions_app = typer.Typer(help="Deliveries received: status, counts and validation reports.", no_args_is_help=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def import_file(
    file: Annotated[Path, typer.Argument(help="GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, KML or CSV")],
    operator: Annotated[str, typer.Option(help="operator id the delivery comes from")],
    profile: Annotated[
        str | None, typer.Option(help="built-in profile (registry, gisnb-5.1, buildings, districts, zensus) or a file")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and count, write nothing")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="repair invalid geometries with make_valid")] = False,
    municipality: Annotated[str | None, typer.Option(help="AGS the delivery must lie in (default: any)")] = None,
    kind: Annotated[str | None, typer.Option(help="map every layer onto this asset kind")] = None,
    encoding: Annotated[str | None, typer.Option(help="text encoding of CSV/Shapefile, e.g. cp1252")] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (detected when not given)")] = None,
    json_report: Annotated[bool, typer.Option("--json", help="print the whole report as JSON")] = False,
) -> None:
    """Validate a delivery as a whole, then load it in one transaction (all or nothing)."""
    from netzatlas.importers.deliveries import ImportError_, run_import
    from netzatlas.importers.files import DeliveryError

    settings = get_settings()
    max_bytes = settings.import_max_mb * 1024 * 1024 if getattr(settings, "import_max_mb", None) else None
    with progress() as bar:
        report = reporter(bar)

        try:
            sid, status, rep = run_import(
                file,
                operator,
                profile,
                home=settings.home,
                dry_run=dry_run,
                repair=repair,
                municipality=municipality,
                kind=kind,
                encoding=encoding,
                delimiter=delimiter,
                max_bytes=max_bytes,
                progress=report,
            )
        except (ImportError_, DeliveryError) as e:
            _fail(str(e))
            return
    if json_report:
        sys.stdout.write(orjson.dumps(rep.to_json(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    else:
        for note in rep.notes:
            console.print(f"note: {note}", highlight=False)
        if rep.problems:
            table = Table("layer", "feature", "id", "field", "reason")
            for p in rep.problems[:50]:
                table.add_row(
                    p["layer"],
                    str(p["index"] if p["index"] is not None else ""),
                    str(p["id"] or ""),
                    p["field"],
                    p["reason"],
                )
            console.print(table)
            if rep.problem_total > 50:
                console.print(f"... {rep.problem_total - 50} more; `netzatlas submissions show {sid}` has them all")
    summary = rep.summary() if status in ("rejected", "failed") else f"{status}: {rep.summary()}"
    line = f"submission {sid}: {summary}" if sid else f"dry run: {summary}"
    if status in ("rejected", "failed"):
        _fail(line)
    console.print(line, highlight=False, soft_wrap=True)


@submissions_app.command("list")
def submissions_list(limit: Annotated[int, typer.Option(help="most recent N")] = 50) -> None:
    """The most recent submissions."""
    from netzatlas.importers.deliveries import list_submissions

    with db.connect() as conn:
        rows = list_submissions(conn, limit)
    table = Table("id", "operator", "file", "profile", "status", "counts", "received")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["operator"] or "",
            r["filename"] or "",
            r["profile"] or "",
            r["status"],
            orjson.dumps(r["counts"]).decode(),
            f"{r['created_at']:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@submissions_app.command("show")
def submissions_show(submission_id: Annotated[str, typer.Argument(help="submission uuid")]) -> None:
    """One submission with its whole validation report, as JSON."""
    from netzatlas.importers.deliveries import get_submission

    with db.connect() as conn:
        row = get_submission(conn, submission_id)
    if row is None:
        _fail(f"no submission {submission_id}")
    sys.stdout.write(orjson.dumps(row, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def template(
    kind: Annotated[str, typer.Argument(help="asset kind, e.g. fiber-routes")],
    fmt: Annotated[str, typer.Option("--format", help="gpkg or csv")] = "gpkg",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write")] = None,
) -> None:
    """Write an empty delivery template for a kind (the columns the built-in `registry` profile reads)."""
    from netzatlas.importers.templates import write_template
    from netzatlas.registry.kinds import UnknownKind

    try:
        out = write_template(kind, fmt, output or Path(f"{kind}.{fmt}"))
    except (UnknownKind, ValueError) as e:
        _fail(str(e))
        return
    console.print(f"template written to {out}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_file)
    app.command("template")(template)
    app.add_typer(submissions_app, name="submissions")
