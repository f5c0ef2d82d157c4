"""Pseudonymisation, Ed25519 signing, the record format and the provider registry."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from ingest.contract.events import parse_event
from ingest.contract.pseudonym import period_key, pseudonymise
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER, decode_record, encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import load_private_key, new_signing_key, private_key_to_text, public_key_to_text
from ingest.errors import ConfigError, SchemaError, SignatureError, UnknownProviderError

SECRET = bytes(range(32))


def test_pseudonym_is_keyed_hmac_and_stable() -> None:
    actor = pseudonymise(SECRET, "user-42")
    assert len(actor) == 64 and int(actor, 16) >= 0
    assert actor == pseudonymise(SECRET, "user-42")
    assert actor != pseudonymise(SECRET, "user-43")
    assert "user-42" not in actor


def test_two_providers_pseudonyms_are_unlinkable() -> None:
    assert pseudonymise(os.urandom(32), "same-user") != pseudonymise(os.urandom(32), "same-user")


def test_period_keys_rotate_weekly() -> None:
    monday, sunday = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 22, 23, tzinfo=UTC)
    next_monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert period_key(SECRET, monday) == period_key(SECRET, sunday)
    assert period_key(SECRET, monday) != period_key(SECRET, next_monday)


def test_empty_user_id_is_refused() -> None:
    with pytest.raises(ValueError, match="user_id"):
        pseudonymise(SECRET, "")


def event(provider: str = "acme-ai"):  # type: ignore[no-untyped-def]
    return parse_event(
        {
            "occurred_at": "2026-11-20T10:00:00Z",
            "provider": provider,
            "actor": pseudonymise(SECRET, "u1"),
            "surface": "api",
            "model_family": "m",
            "detection_stage": "input_filter",
            "category": "cyber.malware",
            "action": "block",
            "score": 0.5,
            "jurisdiction": "US",
            "language": "en",
        }
    )


@pytest.fixture
def signed():  # type: ignore[no-untyped-def]
    key = new_signing_key()
    registry = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(key.public_key())})
    value, headers = encode_record("acme-ai", [event(), event()], key)
    return key, registry, value, headers


def test_signed_record_round_trips(signed) -> None:  # type: ignore[no-untyped-def]
    _, registry, value, headers = signed
    decoded = decode_record(value, headers, registry)
    assert decoded.provider == "acme-ai"
    assert len(decoded.events) == 2 and not decoded.rejected


def test_altered_record_is_refused(signed) -> None:  # type: ignore[no-untyped-def]
    _, registry, value, headers = signed
    tampered = value.replace(b'"block"', b'"allow"')
    with pytest.raises(SignatureError, match="does not verify"):
        decode_record(tampered, headers, registry)


def test_forged_and_unsigned_records_are_refused(signed) -> None:  # type: ignore[no-untyped-def]
    _, registry, value, _ = signed
    forged_value, forged_headers = encode_record("acme-ai", [event()], new_signing_key())
    with pytest.raises(SignatureError):
        decode_record(forged_value, forged_headers, registry)
    with pytest.raises(SignatureError, match="not signed"):
        decode_record(value, [(PROVIDER_HEADER, b"acme-ai")], registry)
    with pytest.raises(UnknownProviderError, match="not registered"):
        decode_record(value, [(PROVIDER_HEADER, b"evil"), (SIGNATURE_HEADER, b"x" * 64)], registry)


def test_signed_record_with_a_bad_event_keeps_the_good_ones(signed) -> None:  # type: ignore[no-untyped-def]
    key, registry, _, _ = signed
    body = {
        "format": "flockview.batch.v1",
        "partitions": 4,
        "provider": "acme-ai",
        "events": [event().to_wire(), {**event().to_wire(), "category": "bogus"}],
    }
    from ingest.contract.events import canonical_json
    from ingest.contract.signing import sign

    value = canonical_json(body)
    decoded = decode_record(value, [(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, sign(key, value))], registry)
    assert len(decoded.events) == 1
    assert "category: 'bogus' is not allowed" in decoded.rejected[0][1]


def test_provider_mismatch_inside_signed_record_is_refused(signed) -> None:  # type: ignore[no-untyped-def]
    key, registry, _, _ = signed
    value, headers = encode_record("acme-ai", [event("other-co")], key)
    decoded = decode_record(value, headers, registry)
    assert not decoded.events and "differs" in decoded.rejected[0][1]


def test_non_json_value_is_a_schema_error(signed) -> None:  # type: ignore[no-untyped-def]
    key, registry, _, _ = signed
    from ingest.contract.signing import sign

    with pytest.raises(SchemaError, match="not JSON"):
        decode_record(
            b"\xff\x00", [(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, sign(key, b"\xff\x00"))], registry
        )


def test_keys_round_trip_as_text_and_bad_text_is_a_config_error() -> None:
    key = new_signing_key()
    assert load_private_key(private_key_to_text(key)).private_bytes_raw() == key.private_bytes_raw()
    with pytest.raises(ConfigError, match="32 raw bytes"):
        load_private_key(b"short")
    with pytest.raises(ConfigError, match="provider id"):
        ProviderRegistry.from_mapping({"Bad Name": public_key_to_text(key.public_key())})


def test_registry_toml_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = new_signing_key()
    registry = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(key.public_key())})
    path = tmp_path / "providers.toml"
    path.write_text(registry.to_toml())
    loaded = ProviderRegistry.from_toml(path)
    assert public_key_to_text(loaded.key_for("acme-ai")) == public_key_to_text(key.public_key())
    with pytest.raises(ConfigError, match="does not exist"):
        ProviderRegistry.from_toml(tmp_path / "missing.toml")
