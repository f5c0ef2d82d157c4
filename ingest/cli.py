"""The provider-side commands of the ``flockview`` CLI: schema, broker, simulate."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ingest.broker import EmbeddedBroker
from ingest.events import json_schema
from ingest.topics import DEFAULT_PARTITIONS, ensure_topics

app = typer.Typer(no_args_is_help=True)


@app.command()
def schema(indent: Annotated[int, typer.Option(help="Indentation of the JSON output.")] = 2) -> None:
    """Print the JSON Schema of event contract v1."""
    typer.echo(json.dumps(json_schema(), indent=indent))


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 9092,
    partitions: Annotated[int, typer.Option(help="Partitions of the Flockview topics it creates.")] = DEFAULT_PARTITIONS,
    log_file: Annotated[Path | None, typer.Option(help="Write the broker's own output here.")] = None,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, memory storage) until Ctrl-C.

    Its data lives only as long as the process: stopping it loses every topic.
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(port=port or None, log_path=log_file) as embedded:
        ensure_topics(embedded.bootstrap_servers, partitions)
        typer.echo(f"embedded broker ready: bootstrap servers {embedded.bootstrap_servers} (memory storage)")
        typer.echo("press Ctrl-C to stop")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        typer.echo("stopping the broker…")


@app.command()
def simulate(
    bootstrap_servers: Annotated[str, typer.Option(help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    rate: Annotated[float, typer.Option(help="Events per second on an ordinary weekday, all providers together.")] = 50.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")] = None,
    max_events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    providers: Annotated[str | None, typer.Option(help="Comma-separated demo providers (default: all four).")] = None,
    campaign: Annotated[str | None, typer.Option(help="Injected campaign preset, e.g. cbrn-bio-lrl.")] = None,
    campaign_start: Annotated[float | None, typer.Option(help="Seconds before the campaign starts.")] = None,
    campaign_duration: Annotated[float | None, typer.Option(help="Seconds the campaign lasts.")] = None,
    days_per_minute: Annotated[float, typer.Option(help="Speed of the simulated weekly rhythm.")] = 1.0,
    bad_events: Annotated[float, typer.Option(help="Fraction of forged records (they must reach the DLQ).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for traffic and the demo keys; the worker's registry must match.")] = 0,
    registry_out: Annotated[Path | None, typer.Option(help="Write the demo providers' registry TOML here.")] = None,
) -> None:
    """Drive synthetic providers through the real SDK: skewed actors, a weekly rhythm, optional campaigns.

    The demo keys derive from --seed; real providers create theirs with their own secrets.
    """
    from ingest.simulate import Simulator, campaign_preset, demo_providers, provider_credentials, registry_toml

    chosen = demo_providers(providers.split(",") if providers else None)
    credentials = provider_credentials([p.name for p in chosen], seed)
    if registry_out:
        registry_out.write_text(registry_toml(credentials))
        typer.echo(f"registry of {len(chosen)} demo providers written to {registry_out}")
    preset = campaign_preset(campaign, start_after=campaign_start, duration=campaign_duration) if campaign else None
    sim = Simulator(chosen, credentials, bootstrap_servers, rate=rate, seed=seed, campaign=preset,
                    days_per_minute=days_per_minute, bad_events=bad_events)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    typer.echo(f"simulating {', '.join(p.name for p in chosen)} at {rate:g} events/s into {bootstrap_servers}")
    summary = sim.run(duration=duration, max_events=max_events,
                      progress=lambda s: typer.echo(f"  sent {s.sent} events ({s.forged} forged)"), progress_interval=10.0)
    typer.echo(f"done: {summary.sent} events sent in {summary.elapsed_s:.0f} s"
               f"{' (interrupted)' if summary.interrupted else ''}")
