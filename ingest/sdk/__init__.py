"""The provider SDK: validate, pseudonymise, queue, batch, sign and deliver events. Slim: it never imports
``ingest.devtools``, ``analytics`` or ``dashboard`` (import-linter checks it).

Modules:
    client: ``Client`` (``emit()``, ``flush()``, ``close()``); see docs/provider-guide.md.
    settings: ``SDKSettings`` (``FLOCKVIEW_SDK_*``, the ``[sdk]`` table of ``flockview.toml``).
    encoder: one event validated against the contract and written as canonical JSON (the fast path).
    queue: queued events cut into signed records per partition.
    sender: the background sender (delivery, retries with backoff, spooling).
    transport: where records go: Kafka, or memory in the test mode.
    spool: the crash-safe, bounded disk spool.
    importer: JSONL import through the SDK (``flockview emit``).
    admin: creating the events and dead-letter topics.
"""
