"""The ``flockview`` command line: one entry point for providers, operators and analysts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analytics.settings import ReportSettings, WorkerSettings

# The command line is the one place that ties every component together: the layers contract lets it (and
# only it) import the dashboard's settings (pyproject.toml, [tool.importlinter]).
from dashboard.settings import DashboardSettings
from ingest import cli as ingest_cli
from ingest.cli import clean_errors, settings_options

app = typer.Typer(
    name="flockview",
    help="Flockview: differentially private misuse-pattern reports from AI providers' safety-classifier events.\n\n"
    "Settings: an option given wins, then FLOCKVIEW_<COMPONENT>_* variables, then the component's table "
    "of flockview.toml (--config, $FLOCKVIEW_CONFIG or ./flockview.toml), then the defaults. "
    "See docs/cli.md and docs/flockview.example.toml.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text is shown as written: "[worker]" and "[providers.NAME]" are not markup
)
report_app = typer.Typer(help="Policy reports built from released (noisy) data only.", no_args_is_help=True)
app.add_typer(report_app, name="report")


for command in ingest_cli.app.registered_commands:
    if command.callback is not None:
        app.command(command.name)(clean_errors(command.callback))
for group in ingest_cli.app.registered_groups:  # e.g. `flockview keys new-provider`; errors handled inside
    if group.typer_instance is not None:
        app.add_typer(group.typer_instance, name=group.name)


@app.command()
@clean_errors
@settings_options(WorkerSettings)
def worker(settings: WorkerSettings) -> None:
    """Run a stream worker: verify, bound, count per window, release with OpenDP into DuckDB."""
    from analytics.stream import run_worker

    run_worker(settings)


@report_app.command("weekly")
@clean_errors
@settings_options(ReportSettings, flags={"reports_dir": ["--out"], "formats": ["--format", "-f"]})
def report_weekly(
    settings: ReportSettings,
    week: Annotated[
        str | None,
        typer.Option(
            help="Window label, e.g. 2026-W47 (or '2026-11-23 09:40:10Z' for "
            "short demo windows); default the latest released."
        ),
    ] = None,
    allow_partial: Annotated[
        bool, typer.Option(help="Write the report even if some families were not released for the window.")
    ] = False,
) -> None:
    """Write the weekly policy report of a released window: summary, charts with 95% bands, privacy statement."""
    from analytics.reporting.build import write_reports

    written = write_reports(
        settings.store, settings.reports_dir, week=week, formats=settings.formats, allow_partial=allow_partial
    )
    for kind, path in written.items():
        typer.echo(f"{kind} report written to {path}")


@app.command()
@clean_errors
@settings_options(WorkerSettings, only=["store", "rho_week", "rho_year"])
def budget(settings: WorkerSettings) -> None:
    """Show the privacy budget spent per period and year, and what remains under the caps.

    The store and caps are the worker's: the caps stored with each ledger row are shown; --rho-week
    and --rho-year only fill in for rows written before caps were stored.
    """
    from analytics.privacy.ledger import budget_summary

    typer.echo(budget_summary(settings.store, settings.budget_policy))


@app.command()
@clean_errors
@settings_options(DashboardSettings)
def dashboard(settings: DashboardSettings) -> None:
    """Serve the analysts' Streamlit dashboard (read-only on the store)."""
    import os

    from analytics.demo import dashboard_command

    argv, env = dashboard_command(settings.as_environment(), settings.port, settings.address)
    typer.echo(f"dashboard on http://{settings.address}:{settings.port} reading {settings.store}")
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
    main()
