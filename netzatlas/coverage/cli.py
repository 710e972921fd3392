"""`netzatlas coverage ...`: run, list, show and compare coverage runs (thin: parse, call, print)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from netzatlas import db
from netzatlas.coverage import runs
from netzatlas.coverage.parameters import ANALYSES, ParameterError, parse_set

app = typer.Typer(
    help="Coverage analyses: fiber homes passed, mobile (LTE/NR) and IoT connectivity.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode() + "\n")


@app.command("run")
def run_cmd(
    analysis: Annotated[str, typer.Argument(help="fiber, mobile or iot")],
    municipality: Annotated[str | None, typer.Option(help="AGS of the municipality (default: the only one)")] = None,
    params: Annotated[Path | None, typer.Option(help="YAML or JSON file of parameters")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="a parameter as key=value (repeatable)")] = None,
) -> None:
    """Run an analysis, show progress, print the run's statistics."""
    if analysis not in ANALYSES:
        raise _fail(f"unknown analysis {analysis!r}; choose one of {', '.join(ANALYSES)}")
    given: dict[str, Any] = {}
    try:
        if params:
            try:
                loaded = yaml.safe_load(params.read_text())
            except (OSError, yaml.YAMLError) as e:
                raise ParameterError(f"--params {params}: {e}") from None
            if not isinstance(loaded, dict):
                raise ParameterError(f"--params {params}: expected a mapping of parameter names to values")
            given.update(loaded)
        given.update(parse_set(set_ or []))
    except ParameterError as e:
        raise _fail(str(e)) from None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{analysis} run", total=1.0)
        try:
            # created running and locked by this process: if it is killed, the next look marks the run failed
            result = runs.start(
                db.app_url(),
                analysis,
                municipality,
                given,
                db.default_actor(),
                lambda f, m: bar.update(task, completed=f, description=m),
            )
        except (ParameterError, runs.RunError) as e:
            raise _fail(str(e)) from None
    if result["status"] != "succeeded":
        raise _fail(f"run {result['id']} failed: {result['message']}")
    console.print(f"run {result['id']} succeeded in {result['timings'].get('total', 0):.2f} s")
    _json({"id": result["id"], "statistics": result["statistics"]})


@app.command("list")
def list_cmd(limit: Annotated[int, typer.Option(help="most recent runs")] = 20) -> None:
    """The most recent runs."""
    table = Table("id", "analysis", "municipality", "status", "progress", "created", "seconds")
    for r in runs.list_runs(db.app_url(), limit):
        table.add_row(
            str(r["id"]),
            r["analysis"],
            r["municipality"],
            r["status"],
            f"{r['progress']:.0%}",
            f"{r['created_at']:%Y-%m-%d %H:%M:%S}",
            str(r["timings"].get("total", "")),
        )
    console.print(table)


@app.command("show")
def show_cmd(run_id: Annotated[str, typer.Argument(help="run id")]) -> None:
    """A run as JSON: parameters, model and assumptions, input counts, statistics, timings, outputs."""
    try:
        _json(runs.get(db.app_url(), run_id))
    except runs.RunError as e:
        raise _fail(str(e)) from None


@app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="the earlier run")],
    run_b: Annotated[str, typer.Argument(help="the later run")],
) -> None:
    """Differences of parameters and statistics between two runs of the same analysis."""
    try:
        _json(runs.compare(db.app_url(), run_a, run_b))
    except runs.RunError as e:
        raise _fail(str(e)) from None


@app.command("publish")
def publish_cmd(
    run_id: Annotated[str, typer.Argument(help="run id")],
    withdraw: Annotated[bool, typer.Option("--withdraw", help="withdraw the publication")] = False,
) -> None:
    """Publish a run's aggregates (100 m cells, district shares, statistics) for everyone, or withdraw it.
    Rasters, gap polygons and per-asset results keep the run's sensitivity."""
    from netzatlas.coverage import publication

    try:
        _json(publication.publish(db.app_url(), run_id, db.default_actor(), not withdraw))
    except publication.PublicationError as e:
        raise _fail(str(e)) from None
