"""The JSONL importer and the provider commands `flockview emit` and `flockview keys new-provider`."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli import app
from ingest.contract.keys import ProviderKeys
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.registry import ProviderRegistry
from ingest.errors import ConfigError
from ingest.sdk.client import Client
from ingest.sdk.importer import import_jsonl

GOOD = {
    "user_id": "raw-user-1@example.org",
    "category": "fraud.phishing",
    "detection_stage": "input_filter",
    "action": "warn",
    "surface": "consumer_app",
    "model_family": "acme-mini",
    "score": 0.7,
    "jurisdiction": "US",
    "language": "en",
    "occurred_at": "2026-11-20T10:00:00Z",
}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_import_sends_good_lines_and_rejects_bad_ones_with_line_numbers(tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "events.jsonl",
        [
            json.dumps(GOOD),
            json.dumps({**GOOD, "category": "bioweapons"}),
            "",
            "{not json",
            json.dumps([1, 2]),
            json.dumps({**GOOD, "user_id": "raw-user-2", "prompt": "text is never accepted"}),
            json.dumps({**GOOD, "user_id": "raw-user-3", "technique": "roleplay"}),
        ],
    )
    seen: list[int] = []
    with Client("acme-ai", bytes(range(32)), ProviderKeys.generate("acme-ai").signing_key, send=False) as client:
        summary = import_jsonl(source, client, tmp_path / "rejects.jsonl", progress=seen.append)
        client.flush(10)
        events = client.sink.events()  # type: ignore[union-attr]
    assert (summary.lines, summary.queued, summary.rejected, summary.blank) == (7, 2, 4, 1)
    assert [n for n, _ in summary.errors] == [2, 4, 5, 6]
    assert "category: 'bioweapons' is not allowed" in summary.errors[0][1]
    assert "prompt: unknown field" in summary.errors[3][1]
    assert sum(seen) == source.stat().st_size
    assert sorted(e.actor for e in events) == sorted(
        pseudonymise(bytes(range(32)), u) for u in ("raw-user-1@example.org", "raw-user-3")
    )
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 4, 5, 6] and rejects[1]["text"] == "{not json"


def test_a_clean_import_writes_no_rejects_file_and_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "ok.jsonl", [json.dumps(GOOD)])
    with Client("acme-ai", bytes(range(32)), ProviderKeys.generate("acme-ai").signing_key, send=False) as client:
        assert import_jsonl(source, client, tmp_path / "rejects.jsonl").queued == 1
        with pytest.raises(ConfigError, match="cannot read"):
            import_jsonl(tmp_path / "missing.jsonl", client, tmp_path / "r.jsonl")
    assert not (tmp_path / "rejects.jsonl").exists()


def test_keys_new_provider_writes_private_file_and_prints_the_registry_entry(tmp_path: Path) -> None:
    out = tmp_path / "acme.toml"
    result = CliRunner().invoke(app, ["keys", "new-provider", "acme-ai", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    entry = result.stdout
    registry_file = tmp_path / "providers.toml"
    registry_file.write_text(entry)
    registry = ProviderRegistry.from_toml(registry_file)
    keys = ProviderKeys.load(out)
    assert registry.key_for("acme-ai").public_bytes_raw() == keys.signing_key.public_key().public_bytes_raw()
    assert "signing_key" not in entry and "pseudonym_key" not in entry
    assert set(tomllib.loads(out.read_text())) == {"provider", "signing_key", "pseudonym_key"}
    again = CliRunner().invoke(app, ["keys", "new-provider", "acme-ai", "--out", str(out)])
    assert again.exit_code == 1 and again.output.strip().splitlines()[-1].startswith("error: ")
    assert "--force" in again.output
    assert CliRunner().invoke(app, ["keys", "new-provider", "acme-ai", "--out", str(out), "--force"]).exit_code == 0
    bad = CliRunner().invoke(app, ["keys", "new-provider", "Bad Name", "--out", str(tmp_path / "x.toml")])
    assert bad.exit_code == 1 and "error: provider name 'Bad Name'" in bad.output


def test_emit_command_reports_bad_lines_and_spools_when_the_broker_is_down(tmp_path: Path) -> None:
    creds = tmp_path / "acme.toml"
    ProviderKeys.generate("acme-ai").write(creds)
    source = write_lines(tmp_path / "events.jsonl", [json.dumps(GOOD), json.dumps({**GOOD, "score": 7})])
    spool = tmp_path / "spool"
    result = CliRunner().invoke(
        app,
        [
            "emit",
            str(source),
            "--credentials",
            str(creds),
            "--bootstrap-servers",
            "127.0.0.1:9",
            "--spool-dir",
            str(spool),
            "--timeout",
            "1",
        ],
    )
    assert result.exit_code == 1
    assert "line 2: score: must be a number from 0 to 1 (got 7)" in result.output
    assert "2 lines: 1 events sent, 1 rejected" in result.output and "waits in the spool" in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: 1 line(s) rejected")
    assert len(list(spool.glob("*.rec"))) == 1 and (tmp_path / "events.jsonl.rejects.jsonl").exists()
    wrong = CliRunner().invoke(app, ["emit", str(source), "--credentials", str(creds), "--provider", "other-co"])
    assert wrong.exit_code == 1 and "does not match" in wrong.output
    os.chmod(creds, 0o640)
    shared = CliRunner().invoke(app, ["emit", str(source), "--credentials", str(creds)])
    assert shared.exit_code == 1 and "readable by others" in shared.output
