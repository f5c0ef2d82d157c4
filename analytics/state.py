"""A source partition's private worker state, durable together with the last applied offset.

One SQLite file per partition (``<state_dir>/<topic>-<partition>.sqlite``, WAL mode). Every batch
is ONE transaction that writes what the batch changed (the touched actors' compact states, the new
event ids, closed windows, the watermark) and the partition offset it applied up to, plus any
closed-window summaries still to be published (the outbox). So after a ``kill -9`` the state on
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

from analytics.aggregator import WindowAggregator, WindowState
from analytics.errors import AnalyticsError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actors (lane REAL NOT NULL, win INTEGER NOT NULL, actor BLOB NOT NULL,
                                   state BLOB NOT NULL, PRIMARY KEY (lane, win, actor)) WITHOUT ROWID;
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
    spec = [(lane.size_s, [(f.name, f.metric, f.bound_k, f.saturation, list(f.dimensions)) for f in lane.families])
            for lane in aggregator.lanes]
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
        if meta.get("families", fingerprint) != fingerprint:
            raise StateError(f"worker state {self.path} was written for other report families or window sizes; "
                             "finish its open windows with the old settings, or move the state directory away")
        lanes = {lane.size_s: lane for lane in aggregator.lanes}
        for lane in aggregator.lanes:
            if f"closed_before:{lane.size_s!r}" in meta:
                lane.closed_before = int(meta[f"closed_before:{lane.size_s!r}"])
        if "max_event_time" in meta:
            aggregator.max_event_time = float(meta["max_event_time"])
        for size, family, idx, cell in self.con.execute("SELECT lane, family, idx, cell FROM vocab ORDER BY lane, family, idx"):
            lanes[size].bounds.intern(family, idx, tuple(json.loads(cell)))
        for size, win, actor, state in self.con.execute("SELECT lane, win, actor, state FROM actors"):
            lane = lanes[size]
            window = lane.windows.get(win) or lane.windows.setdefault(win, WindowState(lane.bounds))
            window.actors[actor] = bytearray(state)
            lane.bounds.add_state_to(state, window.counts)
        for size, win, ids in self.con.execute("SELECT lane, win, ids FROM seen ORDER BY rowid"):
            lane = lanes[size]
            window = lane.windows.get(win) or lane.windows.setdefault(win, WindowState(lane.bounds))
            window.seen.extend_known(ids)
        return int(meta.get("offset", -1))

    def commit(self, aggregator: WindowAggregator, offset: int | None,
               outbox: Sequence[tuple[str, bytes]] = ()) -> None:
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
                con.executemany("INSERT INTO vocab VALUES (?, ?, ?, ?)",
                                [(lane.size_s, f, i, json.dumps(list(c))) for f, i, c in lane.bounds.new_vocab])
                lane.bounds.new_vocab.clear()
            for (lane_id, win), actors in delta.actors.items():
                lane = lanes[lane_id]
                window = lane.windows.get(win)
                if window is None or not actors:
                    continue  # closed in the meantime: deleted below
                con.executemany("INSERT OR REPLACE INTO actors VALUES (?, ?, ?, ?)",
                                [(lane.size_s, win, a, bytes(window.actors[a])) for a in actors])
            for (lane_id, win), ids in delta.new_ids.items():
                if ids and win in lanes[lane_id].windows:
                    con.execute("INSERT INTO seen VALUES (?, ?, ?)", (lanes[lane_id].size_s, win, b"".join(ids)))
            for lane_id, win in delta.closed:
                size = lanes[lane_id].size_s
                con.execute("DELETE FROM actors WHERE lane = ? AND win = ?", (size, win))
                con.execute("DELETE FROM seen WHERE lane = ? AND win = ?", (size, win))
            con.executemany("INSERT INTO outbox (topic, payload) VALUES (?, ?)", list(outbox))
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", self._meta_rows(aggregator, offset))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def _meta_rows(aggregator: WindowAggregator, offset: int | None) -> list[tuple[str, str]]:
        rows = [("families", families_fingerprint(aggregator))]
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
