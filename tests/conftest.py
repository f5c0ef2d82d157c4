"""Shared fixtures: a real embedded broker on a free port, provider credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.broker import EmbeddedBroker
from ingest.signing import new_signing_key, public_key_to_text


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A real Tansu broker process on 127.0.0.1 and a free port, stopped after the test."""
    embedded = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        yield embedded
    finally:
        embedded.stop(grace=3.0)


@dataclass(frozen=True)
class ProviderCredentials:
    name: str
    signing_key: Ed25519PrivateKey
    pseudonym_key: bytes

    def registry_toml(self) -> str:
        return f'[providers.{self.name}]\npublic_key = "{public_key_to_text(self.signing_key.public_key())}"\n'


@pytest.fixture
def provider() -> ProviderCredentials:
    return ProviderCredentials("acme-ai", new_signing_key(), os.urandom(32))
