"""Tools for laptops, demos, tests and benchmarks; never imported by ``ingest.sdk``.

Modules:
    broker: the embedded Tansu broker (memory storage only, 127.0.0.1).
    simulate: synthetic providers driving the real SDK.
"""
