"""The provider registry: which providers may send, and the public key each one signs with.

It is a TOML file the platform operator keeps::

    [providers.acme-ai]
    public_key = "base64 of the 32-byte Ed25519 public key"

``flockview keys new-provider NAME`` prints the entry for a new provider.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ingest.contract.fields import FIELDS, PROVIDER_ID_PATTERN
from ingest.contract.signing import load_public_key, public_key_to_text
from ingest.errors import ConfigError, UnknownProviderError


@dataclass(frozen=True)
class ProviderRegistry:
    """Registered providers and their Ed25519 public keys."""

    keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def from_toml(cls, path: Path) -> ProviderRegistry:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"provider registry {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"provider registry {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(
            {name: entry.get("public_key", "") for name, entry in data.get("providers", {}).items()},
            source=str(path),
        )

    @classmethod
    def from_mapping(cls, public_keys: Mapping[str, str], source: str = "mapping") -> ProviderRegistry:
        keys = {}
        for name, text in public_keys.items():
            if not FIELDS["provider"].matcher.fullmatch(name):
                raise ConfigError(f"{source}: provider id {name!r} must match {PROVIDER_ID_PATTERN}")
            if not text:
                raise ConfigError(f"{source}: provider {name!r} has no public_key")
            keys[name] = load_public_key(text)
        return cls(keys)

    def key_for(self, provider: str) -> Ed25519PublicKey:
        try:
            return self.keys[provider]
        except KeyError:
            raise UnknownProviderError(f"provider {provider!r} is not registered") from None

    def to_toml(self) -> str:
        return "".join(
            f'[providers.{name}]\npublic_key = "{public_key_to_text(key)}"\n\n'
            for name, key in sorted(self.keys.items())
        )
