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
