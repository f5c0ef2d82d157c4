"""Exact, private counting of a worker's source partitions, in plain Python and numpy. No Faust here.

Nothing in this package reaches an analyst: its exact counts leave only as closed-window summaries
to the release step (``analytics.privacy.release``).

Modules:
    decode: a signed record's bytes to columns, the fast path (msgspec).
    decode_process: the same decoding in a child process, outside the interpreter lock.
    utctimes: many RFC 3339 UTC times at once, with numpy.
    verify: verification by the contract's own decoder, and dead-letter messages.
    columns: verified events as columns, and each event's profile.
    keys: compact sets and indexes of 128-bit keys (event ids, actor keys).
    slots: the vectorised contribution bounds of one window.
    aggregator: windowed, bounded, de-duplicated counting of one partition.
    state: a partition's durable private state (SQLite, with the source offset).
    partition: one source partition as a worker owns it.
    gather: closed-window summaries of all partitions joined into whole windows.
    health: operational totals of a worker.
    runtime: a worker's partitions, gathering and release, kept apart from Faust.
"""
