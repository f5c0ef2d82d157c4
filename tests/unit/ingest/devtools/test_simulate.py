"""The traffic simulator's pure logic: contract-valid events, realistic skew, campaigns, reproducibility (no broker)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.contract.events import Event, parse_event
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.records import decode_record, encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key
from ingest.contract.taxonomy import EXTRAORDINARILY_DANGEROUS, Surface
from ingest.devtools.simulate import (
    Campaign,
    ProviderCredentials,
    SimulatedEvent,
    SimulatedProvider,
    Simulator,
    campaign_preset,
    demo_providers,
    demo_registry,
    provider_credentials,
    registry_toml,
    weights,
)
from ingest.errors import ConfigError, SignatureError

MONDAY = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SATURDAY = MONDAY + timedelta(days=5)


def make_simulator(seed: int = 7, campaign: Campaign | None = None, **options: object) -> Simulator:
    providers = demo_providers()
    credentials = provider_credentials([p.name for p in providers], seed=seed)
    options.setdefault("sim_start", MONDAY)
    return Simulator(providers, credentials, None, rate=100.0, seed=seed, campaign=campaign, **options)  # type: ignore[arg-type]


def build(event: SimulatedEvent, credentials: dict[str, ProviderCredentials]) -> Event:
    """What ``Client.build_event`` does, without a producer: pseudonymise the user id, validate the fields."""
    fields = {k: v for k, v in event.fields.items() if v is not None}
    actor = pseudonymise(credentials[event.provider].pseudonym_key, event.user_id)
    return parse_event({**fields, "provider": event.provider, "actor": actor, "occurred_at": datetime.now(UTC)})


@pytest.fixture(scope="module")
def stream() -> list[SimulatedEvent]:
    return list(make_simulator().generate(20_000))


def test_every_generated_event_validates_against_the_contract(stream: list[SimulatedEvent]) -> None:
    sim = make_simulator()
    events = [build(e, dict(sim.credentials)) for e in stream[:5_000]]
    assert {e.provider for e in events} == {p.name for p in demo_providers()}
    assert all(e.actor != raw.user_id and len(e.actor) == 64 for e, raw in zip(events, stream, strict=False))


def test_campaign_events_validate_too() -> None:
    sim = make_simulator(campaign=Campaign("burst", start_after=0, duration=1e9, multiplier=3))
    events = [e for e in sim.generate(3_000) if e.campaign]
    assert len(events) > 1_000
    for event in events:
        build(event, dict(sim.credentials))


def test_demo_providers_are_distinct() -> None:
    providers = demo_providers()
    assert len(providers) == 4
    assert {s for p in providers for s, _ in p.surfaces} == {s.value for s in Surface}
    assert len({p.jurisdictions for p in providers}) == 4
    assert [p.name for p in demo_providers(["openhub"])] == ["openhub"]
    with pytest.raises(ConfigError, match="nobody"):
        demo_providers(["nobody"])


def test_invalid_provider_config_is_refused_early() -> None:
    base = demo_providers()[0]
    with pytest.raises(ConfigError, match="XX"):
        SimulatedProvider("bad", base.surfaces, base.model_families, weights("XX:1"), base.languages, base.stages)
    with pytest.raises(ConfigError, match="Upper"):
        SimulatedProvider("bad", base.surfaces, weights("Upper:1"), base.jurisdictions, base.languages, base.stages)


def test_most_actors_are_light_and_a_few_heavy_ones_dominate(stream: list[SimulatedEvent]) -> None:
    per_actor = sorted(Counter((e.provider, e.user_id) for e in stream).values(), reverse=True)
    top = per_actor[: max(1, len(per_actor) // 100)]
    assert sum(top) / len(stream) > 0.25  # top 1% of actors: a large share of all events
    assert sum(1 for n in per_actor if n <= 2) / len(per_actor) > 0.6  # most actors: one or two events
    assert per_actor[0] > 100


def test_low_harm_categories_dominate_and_cbrn_is_rare(stream: list[SimulatedEvent]) -> None:
    categories = Counter(e.fields["category"] for e in stream)
    cbrn = sum(n for c, n in categories.items() if c.startswith("cbrn."))
    assert cbrn / len(stream) < 0.03
    severe = {c.value for c in EXTRAORDINARILY_DANGEROUS}
    assert sum(n for c, n in categories.items() if c in severe) / len(stream) < 0.15
    assert categories.most_common(1)[0][0] not in severe
    assert len(categories) >= 15


def test_techniques_appear_on_a_fraction_and_safety_removal_only_on_open_weights(stream: list[SimulatedEvent]) -> None:
    with_technique = [e for e in stream if e.fields["technique"] is not None]
    assert 0.1 < len(with_technique) / len(stream) < 0.7
    removal = [e for e in with_technique if e.fields["technique"] == "weights_safety_removal"]
    assert removal
    assert {e.fields["surface"] for e in removal} == {"open_weights_host"}


def test_actions_follow_score_and_stage(stream: list[SimulatedEvent]) -> None:
    filters = [e.fields for e in stream if e.fields["detection_stage"] in ("input_filter", "output_filter")]
    high = Counter(f["action"] for f in filters if f["score"] >= 0.85)
    low = Counter(f["action"] for f in filters if f["score"] < 0.6)
    assert high["block"] / sum(high.values()) > 0.7
    assert low["block"] == 0 and low["allow"] > 0
    monitor = Counter(e.fields["action"] for e in stream if e.fields["detection_stage"] == "account_monitor")
    assert set(monitor) <= {"audit", "warn", "rate_limit", "suspend", "ban"}
    assert all(monitor[a] > 0 for a in ("warn", "rate_limit", "suspend", "ban"))


def test_weekends_are_quieter_and_shift_the_provider_mix() -> None:
    sim = make_simulator(days_per_minute=0.0)  # frozen simulated clock
    weekend = make_simulator(days_per_minute=0.0, sim_start=SATURDAY)
    assert weekend.rate_at(0) < 0.6 * sim.rate_at(0)
    weekday_share = Counter(e.provider for e in sim.generate(5_000))["ledgerline"] / 5_000
    weekend_share = Counter(e.provider for e in weekend.generate(5_000))["ledgerline"] / 5_000
    assert weekend_share < 0.5 * weekday_share


def test_simulated_clock_runs_faster_than_real_time() -> None:
    sim = make_simulator(days_per_minute=1.0)
    assert sim.sim_time(60.0) == MONDAY + timedelta(days=1)
    assert sim.rate_at(5 * 60.0) < sim.rate_at(0)  # five simulated days later it is Saturday
    events = list(sim.generate(2_000))
    assert events[-1].at == pytest.approx(2_000 / 100.0, rel=0.15)  # Poisson arrivals at ~100/s on a weekday


def test_campaign_raises_the_share_of_its_pattern_while_active() -> None:
    campaign = Campaign("burst", start_after=40.0, duration=40.0, multiplier=2.0)
    events = list(make_simulator(campaign=campaign).generate(15_000))

    def share(selected: list[SimulatedEvent]) -> float:
        hits = [
            e
            for e in selected
            if e.fields["category"] == "cbrn.bio" and e.fields["technique"] == "low_resource_language"
        ]
        return len(hits) / len(selected)

    during = [e for e in events if campaign.active(e.at)]
    outside = [e for e in events if not campaign.active(e.at)]
    assert len(during) > 1_000 and len(outside) > 1_000
    assert share(during) > 0.3
    assert share(outside) < 0.01
    assert all(e.campaign == campaign.active(e.at) for e in events if e.campaign)
    assert {e.fields["language"] for e in during if e.campaign} <= {"zu", "gd", "gn"}


def test_campaign_preset_and_overrides() -> None:
    preset = campaign_preset("cbrn-bio-lrl", start_after=5, duration=None)
    assert (preset.category, preset.technique, preset.start_after) == ("cbrn.bio", "low_resource_language", 5)
    with pytest.raises(ConfigError, match="cbrn-bio-lrl"):
        campaign_preset("nope")
    with pytest.raises(ConfigError):
        Campaign("bad", category="bioweapons")
    with pytest.raises(ConfigError):
        Campaign("bad", multiplier=0.5)


def test_the_stream_is_reproducible_with_a_seed() -> None:
    def key(e: SimulatedEvent) -> tuple[object, ...]:
        return e.at, e.provider, e.user_id, tuple(sorted(e.fields.items())), e.campaign

    first = [key(e) for e in make_simulator(seed=3).generate(2_000)]
    assert first == [key(e) for e in make_simulator(seed=3).generate(2_000)]
    assert first != [key(e) for e in make_simulator(seed=4).generate(2_000)]


def test_bad_events_mark_a_small_fraction_as_forged() -> None:
    events = list(make_simulator(bad_events=0.05).generate(4_000))
    assert 0.03 < sum(e.forged for e in events) / len(events) < 0.07
    assert not any(e.forged for e in make_simulator().generate(4_000))


def test_credentials_are_deterministic_and_the_registry_verifies_them(tmp_path: Path) -> None:
    names = [p.name for p in demo_providers()]
    creds = provider_credentials(names, seed=11)
    again = provider_credentials(names, seed=11)
    assert creds["openhub"].pseudonym_key == again["openhub"].pseudonym_key
    assert len(creds["openhub"].pseudonym_key) >= 32
    assert creds["openhub"].pseudonym_key != provider_credentials(names, seed=12)["openhub"].pseudonym_key
    assert "signing_key" not in repr(creds["openhub"]) and "pseudonym_key" not in repr(creds["openhub"])
    path = tmp_path / "providers.toml"
    path.write_text(registry_toml(creds))
    registry = ProviderRegistry.from_toml(path)
    assert set(registry.keys) == set(names) == set(demo_registry(creds).keys)
    event = build(next(iter(make_simulator(seed=11).generate(1))), creds)
    value, headers = encode_record(event.provider, [event], creds[event.provider].signing_key)
    assert decode_record(value, headers, registry).events == [event]
    forged_value, forged_headers = encode_record(event.provider, [event], new_signing_key())
    with pytest.raises(SignatureError):
        decode_record(forged_value, forged_headers, registry)


def test_simulator_refuses_bad_settings() -> None:
    providers = demo_providers()
    creds = provider_credentials([p.name for p in providers])
    with pytest.raises(ConfigError, match="credentials"):
        Simulator(providers, {}, None)
    with pytest.raises(ConfigError, match="rate"):
        Simulator(providers, creds, None, rate=0)
    with pytest.raises(ConfigError, match="not simulated"):
        Simulator(providers[:1], creds, None, campaign=Campaign("c", providers=("openhub",)))
    with pytest.raises(ConfigError, match="bootstrap"):
        Simulator(providers, creds, None).run(max_events=1)


def test_user_ids_do_not_show_in_reprs(stream: list[SimulatedEvent]) -> None:
    assert stream[0].user_id not in repr(stream[0])
