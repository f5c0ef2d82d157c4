"""Static checks run with the tests: the import rules (``[tool.importlinter]``), ruff's lint and format, mypy.

Each runs as a developer would from the repository root, with its configuration in ``pyproject.toml``;
a failure shows the tool's own output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the test extra), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


CHECKS = {
    "import contracts": ["lint-imports"],
    "ruff lint": ["ruff", "check", "--no-fix", "."],
    "ruff format": ["ruff", "format", "--check", "--diff", "."],
    "mypy": ["mypy"],  # the packages and settings in [tool.mypy]
}


@pytest.mark.parametrize("check", CHECKS)
def test_static_check_passes(check: str) -> None:
    tool, *args = CHECKS[check]
    result = subprocess.run([_tool(tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{check} failed ({' '.join(CHECKS[check])}):\n{result.stdout}\n{result.stderr}"
