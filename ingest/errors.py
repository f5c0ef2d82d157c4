"""The exceptions of the ingest package: one root, subclasses that also inherit the builtin they resemble."""

from __future__ import annotations


class FlockviewError(Exception):
    """Root of every error Flockview raises on purpose."""


class SchemaError(FlockviewError, ValueError):
    """An event does not match the v1 contract. The message names the field and what is accepted."""


class SignatureError(FlockviewError, ValueError):
    """A record's signature is missing, malformed or does not verify."""


class UnknownProviderError(FlockviewError, KeyError):
    """A record names a provider that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown provider"


class ConfigError(FlockviewError, ValueError):
    """A setting or key file is missing or invalid."""


class BrokerError(FlockviewError, RuntimeError):
    """The embedded broker could not be started or stopped."""
