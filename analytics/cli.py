"""The ``flockview`` command line: one entry point for providers, operators and analysts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ingest import cli as ingest_cli
from ingest.cli import clean_errors

app = typer.Typer(
    name="flockview",
    help="Flockview: differentially private misuse-pattern reports from AI providers' safety-classifier events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
report_app = typer.Typer(help="Policy reports built from released (noisy) data only.", no_args_is_help=True)
app.add_typer(report_app, name="report")


for command in ingest_cli.app.registered_commands:
    app.command(command.name)(clean_errors(command.callback))  # type: ignore[arg-type]
for group in ingest_cli.app.registered_groups:  # e.g. `flockview keys new-provider`; errors handled inside
    app.add_typer(group.typer_instance, name=group.name)

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
    rho_week: Annotated[
        float | None, typer.Option(help="zCDP rho per privacy period, split by family weights.")
    ] = None,
    rho_year: Annotated[float | None, typer.Option(help="zCDP rho cap per calendar year.")] = None,
    app_id: Annotated[str | None, typer.Option(help="Consumer group id; workers sharing it split partitions.")] = None,
) -> None:
    """Run a stream worker: verify, bound, count per window, release with OpenDP into DuckDB.

    Unset options come from FLOCKVIEW_WORKER_* environment variables, then the defaults.
    """
    from analytics.settings import WorkerSettings
    from analytics.stream import run_worker

    options = {
        "bootstrap_servers": bootstrap_servers,
        "store": store,
        "registry": registry,
        "families": families,
        "window_seconds": window_seconds,
        "lateness_seconds": lateness_seconds,
        "rho_week": rho_week,
        "rho_year": rho_year,
        "app_id": app_id,
    }
    given = {name: value for name, value in options.items() if value is not None}
    run_worker(WorkerSettings(**given))


@report_app.command("weekly")
@clean_errors
def report_weekly(
    store: StoreOpt = DEFAULT_STORE,
    week: Annotated[
        str | None,
        typer.Option(
            help="Window label, e.g. 2026-W47 (or '2026-11-23 09:40:10Z' for "
            "short demo windows); default the latest released."
        ),
    ] = None,
    fmt: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help="html, pdf or md; repeat or give a comma list. Default: html and md."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder the report is written to.", envvar="FLOCKVIEW_REPORTS_DIR")] = Path(
        "reports"
    ),
    allow_partial: Annotated[
        bool, typer.Option(help="Write the report even if some families were not released for the window.")
    ] = False,
) -> None:
    """Write the weekly policy report of a released window: summary, charts with 95% bands, privacy statement."""
    from analytics.reporting.build import write_reports

    written = write_reports(store, out, week=week, formats=fmt, allow_partial=allow_partial)
    for kind, path in written.items():
        typer.echo(f"{kind} report written to {path}")


@app.command()
@clean_errors
def budget(
    store: StoreOpt = DEFAULT_STORE,
    rho_week: Annotated[float, typer.Option(help="The worker's per-period cap (its --rho-week).")] = 0.02,
    rho_year: Annotated[
        float, typer.Option(help="The worker's yearly cap (its --rho-year; the demo uses 1000).")
    ] = 1.0,
) -> None:
    """Show the privacy budget spent per period and year, and what remains under the caps."""
    from analytics.privacy.budget import RhoBudget
    from analytics.privacy.ledger import budget_summary
    from analytics.privacy.release import BudgetPolicy

    try:
        policy = BudgetPolicy(RhoBudget(rho_week), RhoBudget(rho_year))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(budget_summary(store, policy))


@app.command()
@clean_errors
def dashboard(
    store: StoreOpt = DEFAULT_STORE,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    reports: Annotated[
        Path | None,
        typer.Option(
            help="Folder of weekly policy reports to list (default: ./reports).", envvar="FLOCKVIEW_REPORTS_DIR"
        ),
    ] = None,
) -> None:
    """Serve the analysts' Streamlit dashboard (read-only on the store)."""
    import os

    from analytics.demo import dashboard_command

    argv, env = dashboard_command(store, port, address, reports=reports)
    typer.echo(f"dashboard on http://{address}:{port} reading {store}")
    os.execvpe(argv[0], argv, env)


@app.command()
@clean_errors
def up(
    data_dir: Annotated[Path, typer.Option(help="Store, logs and demo keys go here.")] = Path("flockview-demo"),
    window_seconds: Annotated[float, typer.Option(help="Demo window size in seconds.")] = 10.0,
    rate: Annotated[float, typer.Option(help="Simulated events per second, all providers together.")] = 300.0,
    port: Annotated[int, typer.Option(help="Dashboard port.")] = 8501,
    campaign: Annotated[str | None, typer.Option(help="Injected campaign preset; 'none' for none.")] = "cbrn-bio-lrl",
    duration: Annotated[float | None, typer.Option(help="Stop by itself after this many seconds.")] = None,
) -> None:
    """Run the whole demo: embedded broker, a worker, simulated providers and the dashboard, until Ctrl-C."""
    from analytics.demo import DemoConfig, run_up

    config = DemoConfig(
        data_dir=data_dir,
        window_seconds=window_seconds,
        rate=rate,
        dashboard_port=port,
        campaign=None if campaign in (None, "none") else campaign,
    )
    run_up(config, typer.echo, duration=duration)


def main() -> None:
    app(prog_name="flockview")


if __name__ == "__main__":
    sys.exit(main())
