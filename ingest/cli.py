"""The provider-side commands of the ``flockview`` CLI: schema, broker, simulate, emit, keys new-provider."""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ingest.contract.events import json_schema
from ingest.contract.topics import DEFAULT_PARTITIONS, EVENTS_TOPIC
from ingest.devtools.broker import EmbeddedBroker
from ingest.errors import FlockviewError
from ingest.sdk.admin import ensure_topics

app = typer.Typer(no_args_is_help=True)
keys_app = typer.Typer(help="Provider keys: signing key pairs and pseudonym secrets.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Turn Flockview errors into one line (``error: ...``) on stderr and exit code 1, without a traceback.

    Every ``flockview`` command uses it, the top-level ones in ``analytics.cli`` included.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlockviewError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.command()
def schema(indent: Annotated[int, typer.Option(help="Indentation of the JSON output.")] = 2) -> None:
    """Print the JSON Schema of event contract v1."""
    typer.echo(json.dumps(json_schema(), indent=indent))


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 9092,
    partitions: Annotated[
        int, typer.Option(help="Partitions of the Flockview topics it creates.")
    ] = DEFAULT_PARTITIONS,
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
    rate: Annotated[
        float, typer.Option(help="Events per second on an ordinary weekday, all providers together.")
    ] = 50.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    max_events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    providers: Annotated[str | None, typer.Option(help="Comma-separated demo providers (default: all four).")] = None,
    campaign: Annotated[str | None, typer.Option(help="Injected campaign preset, e.g. cbrn-bio-lrl.")] = None,
    campaign_start: Annotated[float | None, typer.Option(help="Seconds before the campaign starts.")] = None,
    campaign_duration: Annotated[float | None, typer.Option(help="Seconds the campaign lasts.")] = None,
    days_per_minute: Annotated[float, typer.Option(help="Speed of the simulated weekly rhythm.")] = 1.0,
    bad_events: Annotated[float, typer.Option(help="Fraction of forged records (they must reach the DLQ).")] = 0.0,
    seed: Annotated[
        int, typer.Option(help="Seed for traffic and the demo keys; the worker's registry must match.")
    ] = 0,
    registry_out: Annotated[Path | None, typer.Option(help="Write the demo providers' registry TOML here.")] = None,
) -> None:
    """Drive synthetic providers through the real SDK: skewed actors, a weekly rhythm, optional campaigns.

    The demo keys derive from --seed; real providers create theirs with their own secrets.
    """
    from ingest.devtools.simulate import Simulator, campaign_preset, demo_providers, provider_credentials, registry_toml

    chosen = demo_providers(providers.split(",") if providers else None)
    credentials = provider_credentials([p.name for p in chosen], seed)
    if registry_out:
        registry_out.write_text(registry_toml(credentials))
        typer.echo(f"registry of {len(chosen)} demo providers written to {registry_out}")
    preset = campaign_preset(campaign, start_after=campaign_start, duration=campaign_duration) if campaign else None
    sim = Simulator(
        chosen,
        credentials,
        bootstrap_servers,
        rate=rate,
        seed=seed,
        campaign=preset,
        days_per_minute=days_per_minute,
        bad_events=bad_events,
    )
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    typer.echo(f"simulating {', '.join(p.name for p in chosen)} at {rate:g} events/s into {bootstrap_servers}")
    summary = sim.run(
        duration=duration,
        max_events=max_events,
        progress=lambda s: typer.echo(f"  sent {s.sent} events ({s.forged} forged)"),
        progress_interval=10.0,
    )
    typer.echo(
        f"done: {summary.sent} events sent in {summary.elapsed_s:.0f} s"
        f"{' (interrupted)' if summary.interrupted else ''}"
    )


@keys_app.command("new-provider")
@clean_errors
def keys_new_provider(
    name: Annotated[str, typer.Argument(help="The provider id to register, e.g. acme-ai.")],
    out: Annotated[Path, typer.Option(help="Where the private credentials go (written with mode 0600).")],
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Generate a provider's Ed25519 signing key and pseudonym secret, and print its registry entry.

    The private parts go to --out only; stdout gets the [providers.NAME] entry (public key) that the
    platform operator adds to the provider registry.
    """
    from ingest.contract.keys import ProviderKeys

    keys = ProviderKeys.generate(name)
    keys.write(out, force=force)
    typer.echo(f"private credentials written to {out} (mode 0600); keep them secret", err=True)
    typer.echo(keys.registry_entry(), nl=False)


@app.command()
@clean_errors
def emit(
    file: Annotated[Path, typer.Argument(help="JSONL file: one event per line; user_id is your raw user id.")],
    credentials: Annotated[Path, typer.Option(help="Credentials file from `flockview keys new-provider`.")],
    provider: Annotated[str | None, typer.Option(help="Provider id; must match the credentials file.")] = None,
    bootstrap_servers: Annotated[str, typer.Option(help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    topic: Annotated[str, typer.Option(help="The events topic.")] = EVENTS_TOPIC,
    rejects: Annotated[Path | None, typer.Option(help="Where bad lines go (default FILE.rejects.jsonl).")] = None,
    spool_dir: Annotated[
        Path | None, typer.Option(help="The SDK's disk spool (default: per provider and key).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery at the end.")] = 60.0,
) -> None:
    """Import a JSONL file through the SDK: validate each line, pseudonymise, sign and send.

    Bad lines are reported with their line numbers and written to the rejects file; good lines are
    sent; a summary ends the run. What the broker does not take in time stays in the spool.
    """
    from ingest.contract.keys import ProviderKeys
    from ingest.sdk.client import Client
    from ingest.sdk.importer import import_jsonl

    keys = ProviderKeys.load(credentials)
    if provider is not None and provider != keys.provider:
        raise FlockviewError(
            f"--provider {provider!r} does not match the credentials file's provider {keys.provider!r}"
        )
    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    size = file.stat().st_size if file.is_file() else 0
    with Client(
        keys.provider,
        keys.pseudonym_key,
        keys.signing_key,
        bootstrap_servers,
        topic,
        spool_dir=spool_dir,
        on_full="block",
        block_timeout_s=max(timeout, 1.0),
    ) as client:
        with typer.progressbar(
            length=size, label=f"importing {file.name}", file=typer.get_text_stream("stderr")
        ) as bar:
            summary = import_jsonl(file, client, rejects, progress=bar.update)
        delivered = client.flush(timeout)
    for number, reason in summary.errors:
        typer.echo(f"line {number}: {reason}", err=True)
    if summary.rejected > len(summary.errors):
        typer.echo(f"… and {summary.rejected - len(summary.errors)} more; see {rejects}", err=True)
    typer.echo(
        f"{summary.lines} lines: {summary.queued} events sent, {summary.rejected} rejected"
        f"{f' (written to {rejects})' if summary.rejected else ''}, {summary.blank} blank, "
        f"{summary.dropped} dropped; "
        + ("all delivered" if delivered else "not all delivered yet: the rest waits in the spool")
    )
    if summary.rejected or summary.dropped or not delivered:
        raise FlockviewError(
            f"{summary.rejected} line(s) rejected, {summary.dropped} dropped"
            f"{'' if delivered else ', delivery incomplete'}"
        )
