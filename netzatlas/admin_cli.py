"""Commands `municipalities` and `operators` (registered by netzatlas.cli): parse, call netzatlas.registry, print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from netzatlas import db
from netzatlas.config import get_settings
from netzatlas.registry import municipalities as muni
from netzatlas.registry import operators as ops

console = Console()
err = Console(stderr=True)
municipalities_app = typer.Typer(
    help="Municipalities: add from a boundary file or from their districts, list, show, remove.", no_args_is_help=True
)
operators_app = typer.Typer(help="Operators that own and deliver assets.", no_args_is_help=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def _population(total: int | None) -> str:
    return "unknown" if total is None else f"{total:,}"


@municipalities_app.command("add")
def municipalities_add(
    ags: Annotated[str, typer.Argument(help="Amtlicher Gemeindeschlüssel, 8 digits (e.g. 07319000)")],
    name: Annotated[str, typer.Option(help="the municipality's name")],
    boundary: Annotated[
        Path | None, typer.Option(help="boundary file GDAL reads, any CRS; features are unioned")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="layer of the boundary file")] = None,
    where: Annotated[
        str | None, typer.Option(help="attribute filter of the boundary file, e.g. \"AGS = '07319000'\"")
    ] = None,
    from_districts: Annotated[
        Path | None, typer.Option("--from-districts", help="districts file: boundary = their union; loaded too")
    ] = None,
    note: Annotated[str | None, typer.Option(help="where the boundary comes from")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="change an already registered municipality")] = False,
) -> None:
    """Register a municipality from a boundary file, or from a districts file (the union of its districts)."""
    if (boundary is None) == (from_districts is None):
        _fail("give either --boundary FILE or --from-districts FILE")
    if from_districts is not None and (layer or where):
        _fail("--layer and --where apply to --boundary; a districts file is loaded whole")
    try:
        if from_districts is not None:
            settings = get_settings()
            row, report = muni.add_from_districts(
                None, ags, name, from_districts, home=settings.home, actor=db.default_actor(), replace=replace
            )
            console.print(f"districts: {report.summary()}", highlight=False, soft_wrap=True)
        else:
            assert boundary is not None
            geom = muni.read_boundary(boundary, layer, where)
            with db.transaction(actor=db.default_actor()) as conn:
                row = muni.add(conn, ags, name, geom, note, replace=replace)
    except muni.MunicipalityError as e:
        _fail(str(e))
        return
    console.print(
        f"municipality {row['ags']} {row['name']}: {row['area_km2']:,} km², {row['districts']} districts",
        highlight=False,
    )


@municipalities_app.command("list")
def municipalities_list() -> None:
    """Every registered municipality with area, districts, assets and population."""
    with db.connect() as conn:
        rows = muni.list_all(conn)
    table = Table("AGS", "name", "km²", "districts", "assets", "population")
    for r in rows:
        table.add_row(
            r["ags"],
            r["name"],
            f"{r['area_km2']:,}",
            str(r["districts"]),
            str(r["assets"]),
            _population(r["population"]),
        )
    console.print(table)


@municipalities_app.command("show")
def municipalities_show(
    ags: Annotated[str, typer.Argument(help="AGS")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Area, districts, population with its sources, operators with assets, latest coverage runs."""
    try:
        with db.connect() as conn:
            m = muni.show(conn, ags)
    except muni.MunicipalityError as e:
        _fail(str(e))
        return
    if as_json:
        _json(m)
        return
    pop = m["population"]
    console.print(f"{m['ags']} {m['name']}: {m['area_km2']:,} km²", highlight=False)
    console.print(f"population: {_population(pop['total'])} ({pop['basis']})", highlight=False)
    for s in pop["sources"]:
        if s["kind"] == "districts":
            console.print(
                f"  districts table ({', '.join(s['source'])}; years {', '.join(map(str, s['years']))}): "
                f"{s['population']:,} in {s['districts']} of {s['of_districts']} districts",
                highlight=False,
            )
        else:
            people = "unknown" if s["population"] is None else f"{s['population']:,}"
            console.print(
                f"  grid {s['resolution_m']} m ({s['source']}{' ' + str(s['year']) if s['year'] else ''}): {people} "
                f"in {s['cells']} cells, {s['secret_cells']} kept secret",
                highlight=False,
            )
    if m["districts"]:
        table = Table("district", "key", "km²", "population", "year")
        for d in m["districts"]:
            table.add_row(
                d["name"],
                d["key"] or "",
                f"{d['area_km2']:,}",
                _population(d["population"]),
                str(d["population_year"] or ""),
            )
        console.print(table)
    else:
        console.print("districts: none")
    ops_line = ", ".join(f"{o['id']} ({o['assets']})" for o in m["operators"]) or "none"
    console.print(f"operators with assets: {ops_line}", highlight=False)
    runs = "; ".join(f"{r['analysis']} {r['status']} {r['created_at']:%Y-%m-%d %H:%M} {r['id']}" for r in m["runs"])
    console.print(f"latest runs: {runs or 'none'}", highlight=False)


@municipalities_app.command("remove")
def municipalities_remove(ags: Annotated[str, typer.Argument(help="AGS")]) -> None:
    """Remove a municipality with its districts; refused while assets, buildings or runs reference it."""
    try:
        with db.transaction(actor=db.default_actor()) as conn:
            out = muni.remove(conn, ags)
    except muni.MunicipalityError as e:
        _fail(str(e))
        return
    console.print(f"removed {out['ags']} {out['name']} with {out['districts_removed']} districts", highlight=False)


@operators_app.command("add")
def operators_add(
    op_id: Annotated[str, typer.Argument(metavar="ID", help="operator id: lower-case letters, digits, '-'")],
    name: Annotated[str, typer.Option(help="the operator's name")],
    kind: Annotated[str, typer.Option(help="telecom, city, utility or other")],
) -> None:
    """Register an operator."""
    try:
        with db.transaction(actor=db.default_actor()) as conn:
            row = ops.add(conn, op_id, name, kind)
    except ops.OperatorError as e:
        _fail(str(e))
        return
    console.print(f"operator {row['id']} ({row['kind']}): {row['name']}", highlight=False)


@operators_app.command("list")
def operators_list() -> None:
    """Every operator with its number of assets in service."""
    with db.connect() as conn:
        rows = ops.list_all(conn)
    table = Table("id", "name", "kind", "assets")
    for r in rows:
        table.add_row(r["id"], r["name"], r["kind"], str(r["assets"]))
    console.print(table)


@operators_app.command("show")
def operators_show(
    op_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One operator: assets per municipality and kind, keys, submissions."""
    try:
        with db.connect() as conn:
            row = ops.show(conn, op_id)
    except ops.OperatorError as e:
        _fail(str(e))
        return
    if as_json:
        _json(row)
        return
    console.print(f"{row['id']} ({row['kind']}): {row['name']}", highlight=False)
    for a in row["assets"]:
        console.print(f"  {a['municipality']} {a['kind']}: {a['count']}", highlight=False)
    console.print(f"active keys: {row['keys']}, submissions: {row['submissions']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(municipalities_app, name="municipalities")
    app.add_typer(operators_app, name="operators")
