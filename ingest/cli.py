"""The provider-side commands of the ``flockview`` CLI: schema, broker, simulate, emit, keys new-provider."""

from __future__ import annotations

import functools
import inspect
import json
import signal
import threading
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import SecretStr

from ingest.config import CONFIG_ENV, FlockviewSettings, SettingsError, use_config_file
from ingest.contract.events import json_schema
from ingest.contract.topics import DEFAULT_PARTITIONS
from ingest.devtools.broker import EmbeddedBroker
from ingest.errors import ConfigError, FlockviewError
from ingest.sdk.admin import ensure_topics
from ingest.sdk.settings import SDKSettings

app = typer.Typer(no_args_is_help=True)
keys_app = typer.Typer(help="Provider keys: signing key pairs and pseudonym secrets.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

CONFIG_OPTION_HELP = (
    f"Settings file with [sdk], [worker], [dashboard] and [report] tables (default: ${CONFIG_ENV}, "
    "else ./flockview.toml if present)."
)


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

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature F promises


def settings_options(
    settings_cls: type[FlockviewSettings],
    *,
    only: Sequence[str] | None = None,
    flags: Mapping[str, Sequence[str]] | None = None,
    param: str = "settings",
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a command ``--config`` and one option per setting of ``settings_cls``, derived from its fields.

    Each option's name, type and help come from the field (``batch_size: int`` described as "Records
    processed together" becomes ``--batch-size INTEGER`` with that help, its variable and default).
    Every option defaults to None, so only an option typed on the command line is an explicit value;
    the others fall through to the environment, ``flockview.toml`` and the defaults, as the settings
    class resolves them. The command receives the resolved settings as its ``param`` argument and
    runs with ``--config`` in force (:func:`ingest.config.use_config_file`). Secrets are never options.

    Args:
        settings_cls: The settings the options come from.
        only: The fields to offer, in this order; all but secrets when None. The others are still
            read from the environment and the file.
        flags: Option names to use instead of the derived ``--field-name`` (the first one names the
            option in errors).
        param: The name of the command's parameter that receives the settings.
    """
    names = [n for n in (only or list(settings_cls.model_fields)) if not settings_cls.is_secret(n)]
    chosen_flags = {n: tuple((flags or {}).get(n) or _default_flags(settings_cls, n)) for n in names}
    labels = {n: chosen_flags[n][0].split("/")[0] for n in names}

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        hints = typing.get_type_hints(fn, localns={settings_cls.__name__: settings_cls}, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
            if p.name != param
        ]
        clash = {p.name for p in own} & {*names, "config"}
        if clash:
            raise TypeError(f"{fn.__name__}: parameters {sorted(clash)} clash with settings options; this is a bug")

        @functools.wraps(fn)
        def command(**kwargs: Any) -> R:
            config = kwargs.pop("config")
            typed = {n: kwargs.pop(n) for n in names}
            given = {n: v for n, v in typed.items() if v is not None and v != []}
            with use_config_file(config):
                try:
                    settings = settings_cls(**given)
                except SettingsError as exc:
                    raise exc.explicit_as(labels) from None
                return fn(**kwargs, **{param: settings})

        options = [_option(settings_cls, n, chosen_flags[n]) for n in names]
        parameters = [*own, _config_parameter(), *options]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # read by typer
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\n{_precedence_note(settings_cls, only)}"
        return command

    return decorate


def _precedence_note(settings_cls: type[FlockviewSettings], only: Sequence[str] | None) -> str:
    table = settings_cls.table()
    rest = f" Every other {table} setting is read the same way." if only else ""
    return (
        f"An option not given comes from its FLOCKVIEW_{table.upper()}_* variable, then the [{table}] "
        f"table of flockview.toml (--config), then the default shown.{rest}"
    )


def _default_flags(settings_cls: type[FlockviewSettings], name: str) -> tuple[str, ...]:
    flag = "--" + name.replace("_", "-")
    return (f"{flag}/--no-{flag[2:]}",) if _plain_type(settings_cls, name) is bool else (flag,)


def _plain_type(settings_cls: type[FlockviewSettings], name: str) -> Any:
    """The field's type without ``| None`` and without ``Annotated`` metadata."""
    annotation = settings_cls.model_fields[name].annotation
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else str
    return annotation


def _option(settings_cls: type[FlockviewSettings], name: str, flags: tuple[str, ...]) -> inspect.Parameter:
    field = settings_cls.model_fields[name]
    kind = _plain_type(settings_cls, name)
    metavar = None
    if typing.get_origin(kind) is list:  # a repeatable option; each value may be a comma list
        (item,) = typing.get_args(kind)
        choices = typing.get_args(item) if typing.get_origin(item) is Literal else ()
        metavar = "|".join(map(str, choices)) if choices else None
        kind = list[str]
    elif not (kind in (bool, int, float, str, Path) or typing.get_origin(kind) is Literal):
        kind = str
    default = field.get_default(call_default_factory=True)
    shown = ",".join(map(str, default)) if isinstance(default, list) else default
    shown = str(shown).lower() if isinstance(shown, bool) else shown
    extra = f"env var: {settings_cls.env_name(name)}" + (f"; default: {shown}" if shown is not None else "")
    option = typer.Option(*flags, help=f"{field.description or ''} [{extra}]".strip(), show_default=False)
    if metavar:
        option.metavar = metavar
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind | None, option]
    )


def _config_parameter() -> inspect.Parameter:
    option = typer.Option("--config", help=CONFIG_OPTION_HELP, show_default=False, dir_okay=False)
    return inspect.Parameter(
        "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[Path | None, option]
    )


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
@settings_options(SDKSettings, only=["bootstrap_servers"], param="sdk")
def simulate(
    sdk: SDKSettings,
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
    bootstrap_servers = sdk.bootstrap_servers
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


EMIT_SETTINGS = [
    "credentials",
    "provider",
    "bootstrap_servers",
    "topic",
    "spool_dir",
    "spool_max_bytes",
    "compression",
    "pseudonym_rotation",
    "delivery_timeout_s",
    "api_version",
]


@app.command()
@clean_errors
@settings_options(SDKSettings, only=EMIT_SETTINGS, param="sdk")
def emit(
    file: Annotated[Path, typer.Argument(help="JSONL file: one event per line; user_id is your raw user id.")],
    sdk: SDKSettings,
    rejects: Annotated[Path | None, typer.Option(help="Where bad lines go (default FILE.rejects.jsonl).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery at the end.")] = 60.0,
) -> None:
    """Import a JSONL file through the SDK: validate each line, pseudonymise, sign and send.

    Bad lines are reported with their line numbers and written to the rejects file; good lines are
    sent; a summary ends the run. What the broker does not take in time stays in the spool.
    """
    from ingest.contract.keys import ProviderKeys
    from ingest.sdk.client import Client
    from ingest.sdk.importer import import_jsonl

    if sdk.credentials is None and None in (sdk.provider, sdk.pseudonym_key, sdk.signing_key):
        raise ConfigError(
            "no provider credentials: give --credentials FILE (from `flockview keys new-provider`), "
            "FLOCKVIEW_SDK_CREDENTIALS, or credentials in the [sdk] table of flockview.toml"
        )
    if sdk.credentials is not None:
        keys = ProviderKeys.load(sdk.credentials)
        if sdk.provider is not None and sdk.provider != keys.provider:
            raise ConfigError(
                f"--provider {sdk.provider!r} does not match the credentials file's provider {keys.provider!r}"
            )
    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    size = file.stat().st_size if file.is_file() else 0
    # An import must not drop events: the queue waits for the sender instead (the SDK's default drops).
    chosen = {**_explicit(sdk), "on_full": "block", "block_timeout_s": max(timeout, 1.0)}
    with Client(**chosen) as client:
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


def _explicit(settings: SDKSettings) -> dict[str, Any]:
    """The resolved settings as Client keyword arguments (explicit, so nothing is resolved twice)."""
    values = {name: getattr(settings, name) for name in SDKSettings.model_fields}
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in values.items()
        if value is not None
    }
