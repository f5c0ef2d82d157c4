"""A source partition's private worker state, durable together with the last applied offset.

One SQLite file per partition (``<state_dir>/<topic>-<partition>.sqlite``, WAL mode). Every batch
is ONE transaction that writes what the batch changed (per window one row holding the touched
actors' keys and slots, one row of the new event ids; closed windows, the watermark) and the
partition offset it applied up to, plus any closed-window summaries still to be published (the
outbox). A window's slot rows are a log, replayed in order on restore; when the log outgrows twice
the window's live slots it is replaced by one snapshot row in the same transaction. So after a ``kill -9`` the state on
disk is exactly the state after some whole batch, and the worker skips records at or below the
stored offset: updates are applied once even though Kafka delivers at least once.

Exact values live here, on the worker's disk only; this is not the analyst store.
``synchronous=NORMAL`` survives the process dying at any point; a power loss may lose the last
transactions, which are then re-read from Kafka (their offsets were not stored either).
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analytics.errors import AnalyticsError
from analytics.worker.aggregator import Lane, WindowAggregator, WindowState
from analytics.worker.keys import keys_of

STATE_FORMAT = "3"  # 1: one row per actor; 2: slot logs per window; 3: seen keys of (provider, actor, event id)
_SIGNED = "partitions:"  # meta key prefix: "partitions:<lane size>:<window>" -> the signed partition counts
_SNAPSHOT_SLACK = 1 << 20  # log bytes a window may hold beyond twice its live slots before a snapshot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS slots (lane REAL NOT NULL, win INTEGER NOT NULL, actors BLOB NOT NULL,
                                  slots BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS slots_window ON slots (lane, win);
CREATE TABLE IF NOT EXISTS seen (lane REAL NOT NULL, win INTEGER NOT NULL, ids BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS seen_window ON seen (lane, win);
CREATE TABLE IF NOT EXISTS vocab (lane REAL NOT NULL, family INTEGER NOT NULL, idx INTEGER NOT NULL,
                                  cell TEXT NOT NULL, PRIMARY KEY (lane, family, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL);
"""


class StateError(AnalyticsError, RuntimeError):
    """The worker's state store cannot be used as it is."""


def families_fingerprint(aggregator: WindowAggregator) -> str:
    """What the stored compact states depend on: each lane's size and its families' layout."""
    spec = [
        (lane.size_s, [(f.name, f.metric, f.bound_k, f.saturation, list(f.dimensions)) for f in lane.families])
        for lane in aggregator.lanes
    ]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


class PartitionStateStore:
    """The durable state of one source partition."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.executescript(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def _meta(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    def load(self, aggregator: WindowAggregator) -> int:
        """Restore ``aggregator`` (a fresh one) from disk; returns the last applied offset (-1 if none)."""
        meta, fingerprint = self._meta(), families_fingerprint(aggregator)
        if "offset" in meta and meta.get("format") != STATE_FORMAT:
            raise StateError(
                f"worker state {self.path} was written by an older worker (state format "
                f"{meta.get('format', '1')}, this worker reads {STATE_FORMAT}); finish its open windows "
                "with that version, or move the state directory away"
            )
        if meta.get("families", fingerprint) != fingerprint:
            raise StateError(
                f"worker state {self.path} was written for other report families or window sizes; "
                "finish its open windows with the old settings, or move the state directory away"
            )
        lanes = {lane.size_s: lane for lane in aggregator.lanes}
        for lane in aggregator.lanes:
            if f"closed_before:{lane.size_s!r}" in meta:
                lane.closed_before = int(meta[f"closed_before:{lane.size_s!r}"])
        if "max_event_time" in meta:
            aggregator.max_event_time = float(meta["max_event_time"])
        for size, family, idx, cell in self.con.execute(
            "SELECT lane, family, idx, cell FROM vocab ORDER BY lane, family, idx"
        ):
            lanes[size].vocab.intern(family, idx, tuple(json.loads(cell)))
        for size, win, actors, slots in self.con.execute("SELECT lane, win, actors, slots FROM slots ORDER BY rowid"):
            state = lanes[size].state(win)
            state.bounds.load(state.actors.rows(keys_of(actors)), slots)
            state.logged_bytes += len(slots)
        for size, win, ids in self.con.execute("SELECT lane, win, ids FROM seen ORDER BY rowid"):
            lanes[size].state(win).seen.extend_known(ids)
        for key, value in meta.items():
            if key.startswith(_SIGNED):  # the partition counts an open window's events were signed for
                size, win = key[len(_SIGNED) :].rsplit(":", 1)
                lanes[float(size)].state(int(win)).partition_counts = {int(p) for p in value.split(",") if p}
        for lane in aggregator.lanes:
            for state in lane.windows.values():
                state.bounds.recount()
        return int(meta.get("offset", -1))

    def commit(
        self, aggregator: WindowAggregator, offset: int | None, outbox: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Write the aggregator's delta, the applied ``offset`` (None: unchanged) and ``outbox`` at once.

        ``outbox`` holds (topic, message) pairs to publish after the commit: closed-window summaries
        and dead letters, so neither is lost nor (after a restart) produced from a different state.
        """
        delta = aggregator.take_delta()
        lanes = aggregator.lanes
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            for lane in lanes:
                con.executemany(
                    "INSERT INTO vocab VALUES (?, ?, ?, ?)",
                    [(lane.size_s, f, i, json.dumps(list(c))) for f, i, c in lane.vocab.new_vocab],
                )
                lane.vocab.new_vocab.clear()
            for key in delta.actors:
                lane = lanes[key[0]]
                if key[1] in lane.windows:  # else closed in the meantime: deleted below
                    self._write_slots(lane, key[1], *delta.touched(key))
            for (lane_id, win), ids in delta.new_ids.items():
                if ids and win in lanes[lane_id].windows:
                    con.execute(
                        "INSERT INTO seen VALUES (?, ?, ?)", (lanes[lane_id].size_s, win, np.concatenate(ids).tobytes())
                    )
            for lane_id, win in delta.partition_counts:
                lane = lanes[lane_id]
                if win in lane.windows:
                    signed = ",".join(map(str, sorted(lane.windows[win].partition_counts)))
                    con.execute(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"{_SIGNED}{lane.size_s!r}:{win}", signed)
                    )
            for lane_id, win in delta.closed:
                size = lanes[lane_id].size_s
                con.execute("DELETE FROM slots WHERE lane = ? AND win = ?", (size, win))
                con.execute("DELETE FROM seen WHERE lane = ? AND win = ?", (size, win))
                con.execute("DELETE FROM meta WHERE key = ?", (f"{_SIGNED}{size!r}:{win}",))
            con.executemany("INSERT INTO outbox (topic, payload) VALUES (?, ?)", list(outbox))
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", self._meta_rows(aggregator, offset))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _write_slots(self, lane: Lane, win: int, keys: np.ndarray, rows: np.ndarray) -> None:
        """Log the touched actors' slots; replace the window's log by a snapshot once it outgrows the live slots."""
        state: WindowState = lane.windows[win]
        slots = state.bounds.dump(rows)
        state.logged_bytes += len(slots)
        live = len(state.actors) * lane.vocab.row_bytes
        if state.logged_bytes > 2 * live + _SNAPSHOT_SLACK:
            keys, rows = state.actors.items()
            slots = state.bounds.dump(rows)
            self.con.execute("DELETE FROM slots WHERE lane = ? AND win = ?", (lane.size_s, win))
            state.logged_bytes = len(slots)
        self.con.execute("INSERT INTO slots VALUES (?, ?, ?, ?)", (lane.size_s, win, keys.tobytes(), slots))

    @staticmethod
    def _meta_rows(aggregator: WindowAggregator, offset: int | None) -> list[tuple[str, str]]:
        rows = [("families", families_fingerprint(aggregator)), ("format", STATE_FORMAT)]
        rows += [(f"closed_before:{lane.size_s!r}", str(lane.closed_before)) for lane in aggregator.lanes]
        if math.isfinite(aggregator.max_event_time):
            rows.append(("max_event_time", repr(aggregator.max_event_time)))
        if offset is not None:
            rows.append(("offset", str(offset)))
        return rows

    def outbox(self) -> list[tuple[int, str, bytes]]:
        """(id, topic, message) committed but not yet confirmed published, oldest first."""
        return [(i, t, bytes(p)) for i, t, p in self.con.execute("SELECT id, topic, payload FROM outbox ORDER BY id")]

    def ack_outbox(self, ids: list[int]) -> None:
        self.con.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
