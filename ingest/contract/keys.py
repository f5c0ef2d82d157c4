"""A provider's credentials: the Ed25519 signing key and the pseudonym secret, in one private file.

``flockview keys new-provider NAME --out FILE`` writes it (mode 0600) and prints the registry entry
the platform needs (only the public key). The file is TOML::

    provider = "acme-ai"
    signing_key = "URL-safe base64 of the 32-byte Ed25519 private key"
    pseudonym_key = "URL-safe base64 of 32 random bytes"

Both secrets stay with the provider: Flockview never sees them.
"""

from __future__ import annotations

import os
import secrets
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.contract.fields import FIELDS, PROVIDER_ID_PATTERN
from ingest.contract.pseudonym import MIN_SECRET_BYTES, check_secret
from ingest.contract.signing import (
    b64decode,
    b64encode,
    load_private_key,
    new_signing_key,
    private_key_to_text,
    public_key_to_text,
)
from ingest.errors import ConfigError


@dataclass(frozen=True)
class ProviderKeys:
    """A provider's private credentials."""

    provider: str
    signing_key: Ed25519PrivateKey
    pseudonym_key: bytes

    @classmethod
    def generate(cls, provider: str) -> ProviderKeys:
        if not FIELDS["provider"].matcher.fullmatch(provider):
            raise ConfigError(f"provider name {provider!r} must match {PROVIDER_ID_PATTERN}")
        return cls(provider, new_signing_key(), secrets.token_bytes(MIN_SECRET_BYTES))

    def registry_entry(self) -> str:
        """The ``[providers.NAME]`` entry of the platform's registry (public key only)."""
        return f'[providers.{self.provider}]\npublic_key = "{public_key_to_text(self.signing_key.public_key())}"\n'

    def to_toml(self) -> str:
        return (
            "# Flockview provider credentials. Keep this file private: it signs your events and\n"
            "# pseudonymises your users. Only the public key (flockview keys new-provider prints it) is shared.\n"
            f'provider = "{self.provider}"\n'
            f'signing_key = "{private_key_to_text(self.signing_key)}"\n'
            f'pseudonym_key = "{b64encode(self.pseudonym_key)}"\n'
        )

    def write(self, path: Path, force: bool = False) -> None:
        """Write the credentials with mode 0600.

        Raises:
            ConfigError: ``path`` exists and ``force`` is False.
        """
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise ConfigError(f"{path} already exists; pass --force to overwrite it") from None
        with os.fdopen(fd, "w") as out:
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to an existing file
            out.write(self.to_toml())

    @classmethod
    def load(cls, path: Path) -> ProviderKeys:
        """Read a credentials file.

        Raises:
            ConfigError: the file is missing, not TOML, lacks a field, or is readable by others.
        """
        try:
            mode = path.stat().st_mode
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"credentials file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"credentials file {path} is not valid TOML: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"credentials file {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
        missing = [k for k in ("provider", "signing_key", "pseudonym_key") if not data.get(k)]
        if missing:
            raise ConfigError(f"credentials file {path} lacks {', '.join(missing)}")
        return cls(
            data["provider"],
            load_private_key(data["signing_key"]),
            check_secret(b64decode(data["pseudonym_key"], "pseudonym_key")),
        )
