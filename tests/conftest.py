"""Shared fixtures: a real embedded broker on a free port, provider credentials, stores of releases."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from analytics.families import ReportFamily, load_families
from analytics.privacy.budget import RhoBudget
from analytics.privacy.release import BudgetPolicy, Releaser
from analytics.store import Store
from analytics.windows import ClosedWindow, Window, window_of
from ingest.contract.signing import new_signing_key, public_key_to_text
from ingest.devtools.broker import EmbeddedBroker


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


CountsFn = Callable[[ReportFamily, int], "list[int] | Mapping[tuple[str, ...], int]"]


def _open_counts(i: int) -> dict[tuple[str, ...], int]:
    """Default model-family counts of window ``i``: two common families pass selection, a rare one never does."""
    return {("acme-large",): 3000 + 100 * i, ("acme-small",): 1200, ("rare-finetune",): 2}


class StorePopulator:
    """Releases consecutive windows into a real DuckDB store through the real Releaser (OpenDP noise).

    ``counts(family, i)`` gives the bounded exact counts of window ``i``, aligned to ``family.keys``.
    Open-vocabulary families have no keys: for them ``counts`` may return a mapping of cell to count;
    a list (aligned to the empty key list) stands for the default model-family counts.
    """

    def __init__(self, path: Path, size: timedelta, first: datetime, counts: CountsFn) -> None:
        self.families = load_families()
        self.releaser = Releaser(Store(path), self.families, BudgetPolicy(rho_year=RhoBudget(100.0)))
        self.size, self.counts, self.i = size, counts, 0
        self.next = window_of(first, size)

    def release(self, n: int = 1) -> list[Window]:
        """Release the next ``n`` windows; returns them oldest first."""
        released = []
        for _ in range(n):
            window = self.next
            counts = {f.name: self._cells(f) for f in self.families}
            outcomes = self.releaser.release(ClosedWindow(window, counts))
            assert [o.status for o in outcomes] == ["released"] * len(self.families)
            released.append(window)
            self.i, self.next = self.i + 1, Window(window.end, window.end + self.size)
        return released

    def _cells(self, family: ReportFamily) -> dict[tuple[str, ...], int]:
        given = self.counts(family, self.i)
        if isinstance(given, Mapping):
            return dict(given)
        if family.open_vocabulary:
            return _open_counts(self.i)
        return dict(zip(family.keys, given, strict=True))


@pytest.fixture(scope="session")
def store_populator() -> type[StorePopulator]:
    """The :class:`StorePopulator` class, for tests that need a store of released windows."""
    return StorePopulator
