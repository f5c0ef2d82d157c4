"""The decode process answers exactly as the in-process decoder, and its failures fall back to it.

These start a real child process (no broker): records and columns go through real shared files.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.settings import WorkerSettings
from analytics.worker import decode_process
from analytics.worker.aggregator import seconds_since_epoch
from analytics.worker.decode import FastDecoder
from analytics.worker.decode_process import DecodeProcess, DecodeProcessError, available
from analytics.worker.partition import IncomingRecord
from analytics.worker.runtime import WorkerRuntime
from ingest.contract.records import SIGNATURE_HEADER
from ingest.contract.signing import new_signing_key, sign

sys.path.insert(0, str(Path(__file__).parent))
from test_decode import ACTOR, PROFILE_FIELDS, REGISTRY, as_lists, events, record

pytestmark = pytest.mark.skipif(not available(), reason="the decode process needs Linux (memfd)")


@pytest.fixture(scope="module")
def process() -> Iterator[DecodeProcess]:
    child = DecodeProcess(REGISTRY, PROFILE_FIELDS)
    yield child
    child.close()


def event(i: int, technique: str | None = None) -> dict[str, object]:
    return {
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        "occurred_at": "2026-11-23T10:00:00.123456Z",
        "provider": "acme-ai",
        "actor": ACTOR,
        "surface": "api",
        "model_family": "acme-large",
        "detection_stage": "input_filter",
        "category": "cbrn.bio",
        "action": "warn",
        "score": 0.5,
        "jurisdiction": "DE",
        "language": "de",
        "technique": technique,
    }


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.lists(events(), max_size=3), st.sampled_from(["signed", "forged", "tombstone"])),
        min_size=0,
        max_size=6,
    ),
    st.sampled_from([None, datetime(2050, 1, 1, tzinfo=UTC)]),
    st.sampled_from([None, 0, 3]),
)
def test_the_decode_process_answers_as_the_in_process_decoder(
    process: DecodeProcess,
    records: list[tuple[list[dict[str, object]], str]],
    draw_latest: datetime | None,
    partition: int | None,
) -> None:
    signed: list[tuple[bytes | None, list[tuple[str, bytes]]]] = []
    for events_, how in records:
        value, headers = record(events_)
        if how == "forged":
            headers = [headers[0], (SIGNATURE_HEADER, sign(new_signing_key(), value))]
        signed.append((None, headers) if how == "tombstone" else (value, headers))
    latest = float("inf") if draw_latest is None else seconds_since_epoch(draw_latest)
    here, here_sizes = FastDecoder(REGISTRY, PROFILE_FIELDS).decode_many(signed, latest, partition)
    for chunk_bytes in (decode_process.CHUNK_BYTES, 600):  # one request, and requests of a record or two
        with patch.object(decode_process, "CHUNK_BYTES", chunk_bytes):
            there, there_sizes = process.decode_many(signed, latest, partition)
        assert there_sizes == here_sizes
        assert as_lists(there) == as_lists(here)
        assert there.providers == here.providers
    assert (
        there.t.dtype == here.t.dtype and there.actors.shape == here.actors.shape and there.ids.shape == here.ids.shape
    )


def test_profiles_come_back_as_one_shared_tuple_each_and_batches_of_any_size_fit(process: DecodeProcess) -> None:
    small = [record([event(i, "roleplay" if i % 2 else None) for i in range(4)])]
    big = [record([event(i) for i in range(1000)]) for _ in range(30)]  # about 12 MB: the shared files grow
    first, _ = process.decode_many(small, float("inf"))
    assert first.profiles[0] is first.profiles[2] and first.profiles[0] != first.profiles[1]
    batch, sizes = process.decode_many(big, float("inf"))
    assert sizes == [1000] * 30 and len(batch) == 30_000
    assert as_lists(batch) == as_lists(FastDecoder(REGISTRY, PROFILE_FIELDS).decode_many(big, float("inf"))[0])
    again, _ = process.decode_many(small, float("inf"))
    assert again.profiles[0] is first.profiles[0]  # numbered once in the child, the same tuple in the parent


def test_a_killed_child_raises_once_then_a_new_one_answers() -> None:
    child = DecodeProcess(REGISTRY, PROFILE_FIELDS)
    try:
        batch = [record([event(i) for i in range(3)])]
        assert child.decode_many(batch, float("inf"))[1] == [3]
        old = child.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        with pytest.raises(DecodeProcessError, match=r"exited|failed"):
            child.decode_many(batch, float("inf"))
        assert child.decode_many(batch, float("inf"))[1] == [3]
        assert child.pid not in (None, old)
    finally:
        child.close()
    assert child.pid is None


def test_a_stuck_child_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_process, "ANSWER_TIMEOUT_S", 0.5)
    child = DecodeProcess(REGISTRY, PROFILE_FIELDS)
    try:
        batch = [record([event(i) for i in range(3)])]
        stuck = child.pid
        assert stuck is not None
        os.kill(stuck, signal.SIGSTOP)
        with pytest.raises(DecodeProcessError, match="did not answer"):
            child.decode_many(batch, float("inf"))
        assert not pid_alive(stuck)
        monkeypatch.setattr(decode_process, "ANSWER_TIMEOUT_S", 120.0)  # a new child needs a second to start
        assert child.decode_many(batch, float("inf"))[1] == [3]
    finally:
        child.close()


def test_the_child_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_decode import REGISTRY, PROFILE_FIELDS\n"
        "from analytics.worker.decode_process import DecodeProcess\n"
        "child = DecodeProcess(REGISTRY, PROFILE_FIELDS)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert pid_alive(child_pid)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while pid_alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child_pid), "the decode process outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_the_worker_decodes_in_process_when_the_child_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = tmp_path / "providers.toml"
    registry.write_text(REGISTRY.to_toml())
    runtime = WorkerRuntime(WorkerSettings(registry=registry, store=tmp_path / "store.duckdb", datadir=tmp_path / "w"))
    try:
        # ACTOR's partition hash is odd: on partition 0 of 1, and on partition 1 of 2.
        records = [IncomingRecord(*record([event(i) for i in range(5)], partitions=p + 1), "t", p, 0) for p in (0, 1)]
        expected = {
            p: runtime.decoder.decode_many([(r.value, r.headers)], float("inf"), p) for p, r in enumerate(records)
        }
        first = runtime.decode_ahead(records)
        assert runtime.decode_process is not None
        assert {p: (as_lists(b), s) for p, (b, s) in first.items()} == {
            p: (as_lists(b), s) for p, (b, s) in expected.items()
        }
        pid = runtime.decode_process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="flockview.worker"):
            fallback = runtime.decode_ahead(records)
        assert "the decode process failed" in caplog.text
        assert {p: (as_lists(b), s) for p, (b, s) in fallback.items()} == {
            p: (as_lists(b), s) for p, (b, s) in expected.items()
        }
        assert runtime._child_decoder() is None  # resting: the next batches decode in the worker
        runtime._decode_process_retry_at = 0.0  # the rest is over: a new child starts and answers
        assert {p: s for p, (_, s) in runtime.decode_ahead(records).items()} == {0: [5], 1: [5]}
        restarted = runtime.decode_process.pid
        assert restarted is not None and restarted != pid and pid_alive(restarted)
    finally:
        runtime.close()
    assert not pid_alive(restarted)
