"""The docs tell the truth: the README's test command is CI's, every command is documented and has help."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics._launcher import COMMAND_EXTRAS
from analytics.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[0].endswith("flockview up")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines


def test_quick_start_installs_extras_that_exist() -> None:
    # pip only warns about an extra the project does not have, so a typo would install too little.
    up, tests = (
        [e.strip() for e in re.findall(r"pip install -e '\.\[(.+?)\]'", c)[0].split(",")]
        for c in quick_start_commands()
    )
    assert set(up) | set(tests) <= set(EXTRAS)
    assert "all" in up and {"all", "test"} <= set(tests)


def test_readme_lists_every_extra() -> None:
    section = README.split("## What to install", 1)[1].split("\n## ", 1)[0]
    assert set(EXTRAS) == set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))


def test_readme_links_point_to_files() -> None:
    targets = re.findall(r"\]\(([^)#]+)\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local
    assert [t for t in local if not (ROOT / t).exists()] == []


def test_missing_extra_messages_name_real_commands_and_extras() -> None:
    top_level = {c.name or c.callback.__name__ for c in app.registered_commands} | {  # type: ignore[union-attr]
        g.name for g in app.registered_groups
    }
    assert set(COMMAND_EXTRAS) <= top_level
    assert {e for extras in COMMAND_EXTRAS.values() for e in extras} <= set(EXTRAS)


def command_names() -> list[str]:
    names = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    groups = [(g.name, g.typer_instance) for g in app.registered_groups if g.typer_instance is not None]
    return names + [f"{name} {c.name}" for name, group in groups for c in group.registered_commands]


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_and_a_docs_entry(name: str) -> None:
    result = CliRunner().invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert f"## `flockview {name}`" in (ROOT / "docs" / "cli.md").read_text()
    assert f"`flockview {name}" in README


def test_cli_turns_errors_into_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "weekly", "--store", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: ") and "Traceback" not in result.output
