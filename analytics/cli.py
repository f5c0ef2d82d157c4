"""The ``flockview`` command line: one entry point for providers, operators and analysts."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ingest import cli as ingest_cli
from ingest.errors import FlockviewError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="flockview",
    help="Flockview: differentially private misuse-pattern reports from AI providers' safety-classifier events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
report_app = typer.Typer(help="Policy reports built from released (noisy) data only.", no_args_is_help=True)
app.add_typer(report_app, name="report")


def clean_errors(fn: F) -> F:
    """Turn Flockview errors into one line on stderr and exit code 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlockviewError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


for command in ingest_cli.app.registered_commands:
    app.command(command.name)(clean_errors(command.callback))  # type: ignore[arg-type]

StoreOpt = Annotated[Path, typer.Option("--store", help="The DuckDB store.", envvar="FLOCKVIEW_STORE")]
DEFAULT_STORE = Path("flockview-data/flockview.duckdb")


@app.command()
@clean_errors
def worker(
    bootstrap_servers: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    store: Annotated[Path | None, typer.Option(help="DuckDB store the releases go to.")] = None,
    registry: Annotated[Path | None, typer.Option(help="Provider registry TOML (public keys).")] = None,
    families: Annotated[Path | None, typer.Option(help="Report families TOML (default: the shipped set).")] = None,
    window_seconds: Annotated[float | None, typer.Option(help="Window size in seconds (default a week).")] = None,
    lateness_seconds: Annotated[float | None, typer.Option(help="Allowed lateness in seconds.")] = None,
    rho_week: Annotated[float | None, typer.Option(help="zCDP rho per privacy period, split by family weights.")] = None,
    rho_year: Annotated[float | None, typer.Option(help="zCDP rho cap per calendar year.")] = None,
    app_id: Annotated[str | None, typer.Option(help="Consumer group id; workers sharing it split partitions.")] = None,
) -> None:
    """Run a stream worker: verify, bound, count per window, release with OpenDP into DuckDB.

    Unset options come from FLOCKVIEW_WORKER_* environment variables, then the defaults.
    """
    from analytics.settings import WorkerSettings
    from analytics.stream import run_worker

    given = {k: v for k, v in locals().items() if v is not None and k not in {"WorkerSettings", "run_worker"}}
    run_worker(WorkerSettings(**given))


@report_app.command("weekly")
@clean_errors
def report_weekly(
    store: StoreOpt = DEFAULT_STORE,
    week: Annotated[str | None, typer.Option(help="Window label, e.g. 2026-W47; default the latest released.")] = None,
    out: Annotated[Path, typer.Option(help="Folder the report is written to.")] = Path("reports"),
) -> None:
    """Write the Markdown policy report of a released week."""
    from analytics.report import write_weekly_report

    path = write_weekly_report(store, out, week=week)
    typer.echo(f"report written to {path}")


@app.command()
@clean_errors
def budget(store: StoreOpt = DEFAULT_STORE) -> None:
    """Show the privacy budget spent per period and year, and what remains under the default caps."""
    from analytics.budget import budget_summary

    typer.echo(budget_summary(store))


def main() -> None:
    app(prog_name="flockview")


if __name__ == "__main__":
    sys.exit(main())
