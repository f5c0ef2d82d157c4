"""The ``flockview`` entry point: runs :mod:`analytics.cli`, and names the extra a command is missing.

The base install is the provider SDK and its commands; the worker, dashboard, report and broker come
with extras (``pyproject.toml``). A command whose extra is not installed ends with one line such as
``error: flockview worker needs the 'worker' extra: pip install 'flockview[worker]'`` and exit code 1,
never a traceback. What each extra holds is read from the installed distribution's metadata, so
``pyproject.toml`` stays the one place that says it; ``--help`` always works.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from importlib import metadata

DISTRIBUTION = "flockview"

# Rule: a command listed here runs only when these extras are installed; a command not listed needs
# only the base install. Update it with the commands of analytics.cli.
COMMAND_EXTRAS: dict[str, tuple[str, ...]] = {
    "worker": ("worker",),
    "dashboard": ("dashboard",),
    "report": ("report",),
    "budget": ("store",),
    "broker": ("demo",),
    "up": ("demo", "worker", "dashboard"),
}

_FIRST_PARTY = {"ingest", "analytics", "dashboard"}
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""^\s*extra\s*==\s*["']([^"']+)["']\s*$""")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(extra: str, requires: Sequence[str]) -> set[str]:
    """Distributions ``extra`` needs, self-references (``flockview[store]``) expanded."""
    needed: set[str] = set()
    pending, seen = [extra], set()
    while pending:
        current = pending.pop()
        seen.add(current)
        for line in requires:
            spec, _, marker = line.partition(";")
            found = _EXTRA_MARKER.match(marker)
            parsed = _REQUIREMENT.match(spec)
            if found is None or parsed is None or found.group(1) != current:
                continue  # a base requirement, another extra, or a platform-specific one
            name, extras = _normalise(parsed.group(1)), parsed.group(2) or ""
            if name == DISTRIBUTION:
                pending.extend(e.strip() for e in extras.split(",") if e.strip() and e.strip() not in seen)
            else:
                needed.add(name)
    return needed


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def missing_extras(extras: Sequence[str], requires: Sequence[str] | None = None) -> list[str]:
    """The extras among ``extras`` with a requirement that is not installed, in the given order.

    ``requires`` defaults to the installed ``flockview`` distribution's; when that has no metadata
    (running from a source tree), nothing is reported missing.
    """
    if requires is None:
        try:
            requires = metadata.requires(DISTRIBUTION) or []
        except metadata.PackageNotFoundError:
            return []
    return [extra for extra in extras if not all(_installed(n) for n in _requirements(extra, requires))]


def missing_extras_message(command: str, extras: Sequence[str]) -> str:
    """``flockview worker needs the 'worker' extra: pip install 'flockview[worker]'``."""
    names = [f"'{e}'" for e in extras]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    noun = "extra" if len(names) == 1 else "extras"
    return f"flockview {command} needs the {listed} {noun}: pip install '{DISTRIBUTION}[{','.join(extras)}]'"


def _command(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _fail(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)
    raise SystemExit(1)


def _missing_module(command: str | None, exc: ModuleNotFoundError) -> None:
    """A third-party module that an extra provides is absent: say so in one line, or re-raise (a bug)."""
    top = (exc.name or "").split(".")[0]
    if not top or top in _FIRST_PARTY:
        raise exc
    what = f"flockview {command}" if command else "flockview"
    _fail(f"{what} needs {top!r}, which is not installed: pip install '{DISTRIBUTION}[all]' installs every extra")


def main() -> None:
    """Run the ``flockview`` command line, checking the command's extras first."""
    args = sys.argv[1:]
    command = _command(args)
    if command in COMMAND_EXTRAS and "--help" not in args:
        absent = missing_extras(COMMAND_EXTRAS[command])
        if absent:
            _fail(missing_extras_message(command, absent))
    try:
        from analytics.cli import main as cli_main

        cli_main()
    except ModuleNotFoundError as exc:
        _missing_module(command, exc)


if __name__ == "__main__":
    main()
