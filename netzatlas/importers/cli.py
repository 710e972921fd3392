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
    operator: Annotated[
        str | None, typer.Option(help="operator id the delivery comes from (not needed for districts and population)")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="built-in profile (registry, gisnb-5.1, buildings, districts, zensus, zensus-2022, "
            "district-population) or a file"
        ),
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
            if json_report:
                sys.stdout.write(orjson.dumps({"valid": False, "error": str(e)}).decode() + "\n")
            _fail(str(e))
            return
    # --json: the report is the only thing on stdout (one JSON document); every other line goes to stderr
    out = err if json_report else console
    if json_report:
        sys.stdout.write(orjson.dumps(rep.to_json(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    else:
        for name in rep.ignored:
            console.print(f"ignored: {name}", highlight=False, soft_wrap=True)
        for note in rep.notes:
            console.print(f"note: {note}", highlight=False, soft_wrap=True)
        if rep.problems:
            print_problems(rep.problems[:50])
            if rep.problem_total > 50:
                where = f"`netzatlas submissions show {sid}`" if sid else "`--json`"
                console.print(f"... {rep.problem_total - 50} more; {where} lists them", highlight=False)
    summary = rep.summary() if status in ("rejected", "failed") else f"{status}: {rep.summary()}"
    line = f"submission {sid}: {summary}" if sid else f"dry run: {summary}"
    if status in ("rejected", "failed"):
        _fail(line)
    out.print(line, highlight=False, soft_wrap=True)


def print_problems(problems: list[dict]) -> None:
    """A table when it fits the terminal with whole names; otherwise one line per problem (never cut)."""
    table = problem_table(problems)
    if sum(c.min_width or 0 for c in table.columns) + 16 <= console.width:
        console.print(table)
        return
    for p in problems:
        at = f" #{p['index']}" if p["index"] is not None else ""
        fid = f" {p['id']}" if p["id"] else ""
        console.print(f"{p['layer']}{at}{fid}: {p['field']}: {p['reason']}", highlight=False, soft_wrap=True)


def problem_table(problems: list[dict]) -> Table:
    """The problems as a table; layer, id and field are never cut (a partner must find the column), the reason
    wraps."""
    table = Table("layer", "feature", "id", "field", "reason")
    for col, key in zip(table.columns[:4], ("layer", "index", "id", "field"), strict=True):
        # rich would shorten the widest columns with an ellipsis: give these their whole width
        col.no_wrap, col.overflow = True, "fold"
        values = (len(str(p[key] if p[key] is not None else "")) for p in problems)
        col.min_width = max(len(str(col.header)), *values)
    table.columns[4].overflow, table.columns[4].min_width = "fold", 30
    for p in problems:
        table.add_row(
            str(p["layer"]),
            str(p["index"] if p["index"] is not None else ""),
            str(p["id"] or ""),
            str(p["field"]),
            str(p["reason"]),
        )
    return table


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
