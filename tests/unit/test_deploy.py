"""The deployment files stay true to the code: settings they set exist, commands they run exist.

No Docker engine runs on the development machines, so the images and manifests are not started
here; these checks catch the drift that would make them fail on first use.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from analytics.cli import app
from analytics.settings import WorkerSettings
from dashboard.settings import DashboardSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PREFIXES = {"FLOCKVIEW_WORKER_": WorkerSettings, "FLOCKVIEW_DASHBOARD_": DashboardSettings}


def container_specs() -> list[tuple[str, list[str], dict[str, str]]]:
    """(where, args, env) of every container in compose.yaml and the Kubernetes manifests."""
    specs = []
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name, svc in compose["services"].items():
        if svc.get("image", "").startswith("flockview"):
            specs.append((f"compose:{name}", svc["command"], dict(svc.get("environment", {}))))
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    env = {e["name"]: e["value"] for e in c.get("env", [])}
                    specs.append((f"{path.name}:{c['name']}", c["args"], env))
    return specs


SPECS = container_specs()


@pytest.mark.parametrize(("where", "args", "env"), SPECS, ids=[s[0] for s in SPECS])
def test_env_vars_name_real_settings(where: str, args: list[str], env: dict[str, str]) -> None:
    for var, value in env.items():
        prefix = next((p for p in PREFIXES if var.startswith(p)), None)
        assert prefix, f"{where}: {var} is not a Flockview setting"
        settings = PREFIXES[prefix]
        field = var.removeprefix(prefix).lower()
        assert field in settings.model_fields, f"{where}: {var} names no field of {settings.__name__}"
        settings.model_validate({field: value})  # the value parses


@pytest.mark.parametrize(("where", "args", "env"), SPECS, ids=[s[0] for s in SPECS])
def test_container_commands_are_real_cli_commands(where: str, args: list[str], env: dict[str, str]) -> None:
    cli = get_command(app)
    command = cli.commands.get(args[0])  # type: ignore[attr-defined]
    assert command is not None, f"{where}: flockview has no command {args[0]!r}"
    options = {opt for p in command.params for opt in p.opts}
    for arg in args[1:]:
        if arg.startswith("--"):
            assert arg in options, f"{where}: flockview {args[0]} has no option {arg}"


def test_dockerfile_copies_what_exists_and_installs_the_pdf_libraries() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    system_deps = (DEPLOY / "system-deps.sh").read_text()
    for lib in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"):
        assert lib in dockerfile and lib in system_deps
