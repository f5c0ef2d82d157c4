"""Traffic simulator: several synthetic AI providers sending realistic classifier events through the SDK.

For demos, load tests and a dashboard's first run. Each provider drives a real :class:`ingest.sdk.client.Client`
(validate, pseudonymise, sign, produce), so a worker receives exactly what a real provider would send.
Traffic is skewed the way misuse traffic is: most actors trigger one or two events while a few heavy
actors trigger many (Zipf weights over each provider's user pool); low-harm categories dominate and
CBRN is rare; weekends are quieter. A :class:`Campaign` overlays a coordinated burst (for example
``cbrn.bio`` via low-resource-language jailbreaks) for the pipeline to surface.

Event generation (:meth:`Simulator.generate`) is pure and seeded; only :meth:`Simulator.run` touches Kafka.
User ids are synthetic, are pseudonymised inside the SDK, and are never logged.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.contract.events import MODEL_FAMILY_PATTERN, PROVIDER_ID_PATTERN
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import public_key_to_text
from ingest.contract.taxonomy import (
    EXTRAORDINARILY_DANGEROUS,
    JURISDICTIONS,
    LANGUAGES,
    Category,
    DetectionStage,
    IdentityVerification,
    Surface,
    Technique,
)
from ingest.contract.topics import EVENTS_TOPIC
from ingest.errors import ConfigError
from ingest.sdk.client import Client

log = logging.getLogger(__name__)

Weights = tuple[tuple[str, float], ...]
"""A categorical mix: (value, relative weight) pairs."""

#: Rate multiplier by simulated weekday, Monday first.
WEEKLY_RHYTHM: tuple[float, ...] = (1.0, 1.05, 1.05, 1.0, 0.95, 0.55, 0.5)
#: Exponent of the Zipf weights over a provider's user pool: higher means heavier heavy actors.
ZIPF_EXPONENT = 1.1


def weights(spec: str) -> Weights:
    """A mix from compact text: ``"US:30 IN:15 GB:8"`` → ``(("US", 30.0), ("IN", 15.0), ("GB", 8.0))``."""
    return tuple((value, float(weight)) for value, weight in (item.rsplit(":", 1) for item in spec.split()))


BASE_CATEGORIES = weights(
    "other:18 platform_abuse:14 hate_harassment:14 fraud.scam:10 fraud.phishing:8 self_harm:7 privacy_surveillance:6 "
    "cyber.malware:6 cyber.intrusion:4 election.influence_ops:3 weapons.conventional:3 terrorism.propaganda:2 csea:1 "
    "terrorism.attack_planning:0.8 cbrn.chem:0.6 cbrn.bio:0.4 cbrn.radnuc:0.2"
)
BASE_TECHNIQUES = weights(
    "roleplay:22 hypothetical:18 encoding:10 decomposition:10 multiturn_escalation:10 prompt_injection:8 "
    "low_resource_language:5 system_prompt_extraction:5 automated:5 unknown:7"
)
#: The main language of a jurisdiction; most of its actors use it, the rest draw from the provider's mix.
_HOME_LANGUAGE = dict(
    item.split(":")
    for item in [
        "US:en",
        "GB:en",
        "NG:en",
        "SG:en",
        "EU:en",
        "IN:hi",
        "BR:pt",
        "DE:de",
        "FR:fr",
        "ID:id",
        "MX:es",
        "JP:ja",
        "PH:tl",
        "CN:zh",
        "RU:ru",
        "KR:ko",
        "VN:vi",
        "NL:nl",
        "SE:sv",
        "IR:fa",
        "UA:uk",
    ]
)
_SEVERE = frozenset(c.value for c in EXTRAORDINARILY_DANGEROUS) | {"csea"}


class _Mix:
    """A precomputed categorical distribution for fast seeded sampling."""

    def __init__(self, mix: Iterable[tuple[str, float]]) -> None:
        pairs = [(v, w) for v, w in mix if w > 0]
        if not pairs:
            raise ConfigError("a mix needs at least one value with a positive weight")
        self.values = [v for v, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.cum)[0]


def _boosted(base: Weights, boost: Weights) -> _Mix:
    factors = dict(boost)
    return _Mix((v, w * factors.get(v, 1.0)) for v, w in base)


_MONITOR_HIGH = _Mix(weights("ban:20 suspend:35 rate_limit:30 warn:15"))
_MONITOR_MID = _Mix(weights("warn:45 rate_limit:35 suspend:15 ban:5"))
_MONITOR_LOW = _Mix(weights("audit:60 warn:40"))
_FILTER_HIGH = _Mix(weights("block:85 modify:10 warn:5"))
_FILTER_MID = _Mix(weights("block:40 modify:30 warn:20 audit:10"))
_FILTER_LOW = _Mix(weights("allow:35 audit:45 warn:20"))


def _action(rng: random.Random, stage: str, score: float) -> str:
    """The provider's action, correlated with stage and score (high score → block; monitors restrict)."""
    if stage == DetectionStage.ACCOUNT_MONITOR:
        mix = _MONITOR_HIGH if score >= 0.9 else _MONITOR_MID if score >= 0.7 else _MONITOR_LOW
        return mix.pick(rng)
    if stage == DetectionStage.MODEL_REFUSAL:
        return "block"
    if stage == DetectionStage.REJECTION_SAMPLING:
        return "modify" if score >= 0.6 else "audit"
    mix = _FILTER_HIGH if score >= 0.85 else _FILTER_MID if score >= 0.6 else _FILTER_LOW
    return mix.pick(rng)


def _score(rng: random.Random, category: str, heavy: bool) -> float:
    alpha, beta = (5.0, 2.0) if category in _SEVERE else (3.0, 3.0)
    return round(rng.betavariate(alpha + (1.5 if heavy else 0.0), beta), 3)


def _check_values(what: str, mix: Weights, allowed: Iterable[str] | None = None, pattern: str = "") -> None:
    known = set(allowed) if allowed is not None else None
    for value, weight in mix:
        if (known is not None and value not in known) or (pattern and not re.fullmatch(pattern, value)):
            raise ConfigError(f"{what}: {value!r} is not an allowed value")
        if weight < 0:
            raise ConfigError(f"{what}: weight of {value!r} is negative")
    if not any(w > 0 for _, w in mix):
        raise ConfigError(f"{what}: needs at least one value with a positive weight")


@dataclass(frozen=True)
class SimulatedProvider:
    """A synthetic provider: its traffic volume, user pool and the mixes its events are drawn from."""

    name: str
    surfaces: Weights
    model_families: Weights
    jurisdictions: Weights
    languages: Weights
    stages: Weights
    verification: Weights = weights("email:1")
    users: int = 20_000
    share: float = 1.0
    weekend_factor: float = 1.0
    technique_rate: float = 0.25
    category_boost: Weights = ()
    technique_boost: Weights = ()
    reports_account_age: bool = True

    def __post_init__(self) -> None:
        if not re.fullmatch(PROVIDER_ID_PATTERN, self.name):
            raise ConfigError(f"provider name {self.name!r} must match {PROVIDER_ID_PATTERN}")
        where = f"provider {self.name}"
        _check_values(f"{where} surfaces", self.surfaces, [s.value for s in Surface])
        _check_values(f"{where} model_families", self.model_families, pattern=MODEL_FAMILY_PATTERN)
        _check_values(f"{where} jurisdictions", self.jurisdictions, JURISDICTIONS)
        _check_values(f"{where} languages", self.languages, LANGUAGES)
        _check_values(f"{where} stages", self.stages, [s.value for s in DetectionStage])
        _check_values(f"{where} verification", self.verification, [v.value for v in IdentityVerification])
        _check_values(f"{where} category_boost", self.category_boost or (("other", 1),), [c.value for c in Category])
        _check_values(
            f"{where} technique_boost", self.technique_boost or (("unknown", 1),), [t.value for t in Technique]
        )
        if self.users < 1 or self.share <= 0 or self.weekend_factor < 0 or not 0 <= self.technique_rate <= 1:
            raise ConfigError(f"{where}: users ≥ 1, share > 0, weekend_factor ≥ 0, technique_rate in [0, 1]")


DEMO_PROVIDERS: tuple[SimulatedProvider, ...] = (
    SimulatedProvider(  # a consumer chat app: huge, global, young users, weekend-heavy
        "chatterly",
        weights("consumer_app:1"),
        weights("chatterly-3:7 chatterly-3-mini:3"),
        weights("US:30 IN:15 GB:8 BR:8 DE:6 ID:6 FR:5 NG:5 MX:5 JP:4 PH:4 EU:4"),
        weights("en:50 hi:8 pt:8 es:8 de:5 fr:5 id:5 ja:4 tl:3 yo:2"),
        weights(
            "input_filter:35 output_filter:20 model_refusal:25 rejection_sampling:5 system_prompt_guard:5 "
            "account_monitor:10"
        ),
        verification=weights("email:60 phone:30 none:10"),
        users=60_000,
        share=0.45,
        weekend_factor=1.15,
        technique_rate=0.2,
        category_boost=weights("self_harm:1.8 hate_harassment:1.3 cyber.intrusion:0.5"),
    ),
    SimulatedProvider(  # an API platform: developers, automation, cyber-heavy, quiet weekends
        "stratus-api",
        weights("api:1"),
        weights("stratus-large:5 stratus-small:3 stratus-code:2"),
        weights("US:35 IN:10 DE:8 GB:7 BR:5 SG:5 KR:5 RU:4 VN:4 ZZ:7"),
        weights("en:70 zh:5 ru:5 ko:4 vi:4 de:4 pt:4 es:4"),
        weights("input_filter:40 output_filter:20 model_refusal:15 system_prompt_guard:10 account_monitor:15"),
        verification=weights("payment:70 email:30"),
        users=12_000,
        share=0.3,
        weekend_factor=0.7,
        technique_rate=0.35,
        category_boost=weights("cyber.malware:2.5 cyber.intrusion:2.5 fraud.phishing:1.5 self_harm:0.3"),
        technique_boost=weights("automated:3 prompt_injection:2 encoding:1.5"),
    ),
    SimulatedProvider(  # an enterprise vendor: verified staff, system-prompt guards, almost idle on weekends
        "ledgerline",
        weights("enterprise:1"),
        weights("ledger-pro:7 ledger-pro-eu:3"),
        weights("DE:20 US:20 FR:15 GB:15 NL:10 EU:10 SE:5 JP:5"),
        weights("en:45 de:20 fr:15 nl:8 sv:5 ja:5"),
        weights("input_filter:25 output_filter:25 system_prompt_guard:35 account_monitor:15"),
        verification=weights("government_id:50 payment:50"),
        users=4_000,
        share=0.1,
        weekend_factor=0.25,
        technique_rate=0.2,
        technique_boost=weights("prompt_injection:3 system_prompt_extraction:3"),
        category_boost=weights(
            "privacy_surveillance:3 fraud.phishing:1.5 self_harm:0.3 hate_harassment:0.5 weapons.conventional:0.3"
        ),
    ),
    SimulatedProvider(  # an open-weights host: anonymous users, no account ages, safety-removal attempts
        "openhub",
        weights("open_weights_host:1"),
        weights("llama-3.1-70b:4 mistral-7b:2.5 qwen2.5-32b:2 gemma-2-27b:1.5"),
        weights("US:25 CN:12 IN:10 RU:6 DE:6 BR:5 VN:4 KR:4 FR:4 IR:3 UA:3 ZZ:15"),
        weights("en:55 zh:12 ru:7 hi:4 pt:4 vi:4 fa:3 ko:3 de:3 fr:3"),
        weights("input_filter:35 output_filter:25 model_refusal:10 rejection_sampling:10 account_monitor:20"),
        verification=weights("none:60 email:40"),
        users=25_000,
        share=0.15,
        weekend_factor=0.95,
        technique_rate=0.3,
        category_boost=weights(
            "weapons.conventional:1.5 cyber.malware:1.5 cbrn.bio:1.5 cbrn.chem:1.5 terrorism.attack_planning:1.3"
        ),
        technique_boost=weights("weights_safety_removal:40 encoding:1.5"),
        reports_account_age=False,
    ),
)


def demo_providers(names: Iterable[str] | None = None) -> tuple[SimulatedProvider, ...]:
    """The four demo providers, or those named in ``names`` (ConfigError on an unknown name)."""
    known = {p.name: p for p in DEMO_PROVIDERS}
    if names is None:
        return DEMO_PROVIDERS
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"unknown demo provider(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)


@dataclass(frozen=True)
class Campaign:
    """A coordinated burst overlaid on normal traffic while active.

    While ``start_after <= t < start_after + duration`` (seconds of run time), the total rate is
    multiplied by ``multiplier``; the extra events come from a small pool of ``actors`` per provider
    with this category, technique (on ``technique_share`` of them) and languages.
    """

    name: str
    category: str = "cbrn.bio"
    technique: str = "low_resource_language"
    languages: Weights = weights("zu:4 gd:3 gn:3")  # Zulu, Scots Gaelic, Guarani
    multiplier: float = 1.5
    start_after: float = 30.0
    duration: float = 120.0
    actors: int = 40
    technique_share: float = 0.85
    providers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_values(f"campaign {self.name} category", ((self.category, 1),), [c.value for c in Category])
        _check_values(f"campaign {self.name} technique", ((self.technique, 1),), [t.value for t in Technique])
        _check_values(f"campaign {self.name} languages", self.languages, LANGUAGES)
        if self.multiplier <= 1 or self.start_after < 0 or self.duration <= 0 or self.actors < 1:
            raise ConfigError(f"campaign {self.name}: multiplier > 1, start_after ≥ 0, duration > 0, actors ≥ 1")

    def active(self, elapsed: float) -> bool:
        """Whether the campaign runs ``elapsed`` seconds after the simulation started."""
        return self.start_after <= elapsed < self.start_after + self.duration


CAMPAIGNS: dict[str, Campaign] = {"cbrn-bio-lrl": Campaign("cbrn-bio-lrl")}


def campaign_preset(name: str, **overrides: Any) -> Campaign:
    """A named campaign (``cbrn-bio-lrl``), with fields such as ``start_after`` or ``duration`` overridden."""
    if name not in CAMPAIGNS:
        raise ConfigError(f"unknown campaign {name!r}; known: {', '.join(CAMPAIGNS)}")
    return replace(CAMPAIGNS[name], **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class ProviderCredentials:
    """A demo provider's Ed25519 signing key and HMAC pseudonym secret."""

    provider: str
    signing_key: Ed25519PrivateKey = field(repr=False)
    pseudonym_key: bytes = field(repr=False)


def _derive(seed: int | str, name: str, purpose: str) -> bytes:
    return hashlib.sha256(f"flockview-demo/v1/{seed}/{name}/{purpose}".encode()).digest()


def provider_credentials(names: Iterable[str], seed: int | str = 0) -> dict[str, ProviderCredentials]:
    """Deterministic demo credentials per provider, derived from ``seed`` with SHA-256.

    Demo only: anyone who knows the seed can forge these providers' records and link their
    pseudonyms. Real providers create random keys with ``flockview keys`` and keep them secret.
    """
    return {
        name: ProviderCredentials(
            name, Ed25519PrivateKey.from_private_bytes(_derive(seed, name, "signing")), _derive(seed, name, "pseudonym")
        )
        for name in names
    }


def demo_registry(credentials: Mapping[str, ProviderCredentials]) -> ProviderRegistry:
    """The provider registry (public keys) a worker needs to verify the simulated providers."""
    return ProviderRegistry.from_mapping(
        {name: public_key_to_text(c.signing_key.public_key()) for name, c in credentials.items()}, source="simulator"
    )


def registry_toml(credentials: Mapping[str, ProviderCredentials]) -> str:
    """The registry as TOML text, to write where the worker reads its provider registry."""
    return demo_registry(credentials).to_toml()


@dataclass(frozen=True)
class SimulatedEvent:
    """One generated event before the SDK pseudonymises and signs it."""

    at: float  # seconds after the simulation start at which it is due
    sim_time: datetime  # the simulated clock at that moment (drives the weekly rhythm only)
    provider: str
    user_id: str = field(repr=False)
    fields: dict[str, Any]
    campaign: bool = False
    forged: bool = False


@dataclass
class SimulationSummary:
    """What a run sent. Aggregates only: no user ids, no pseudonyms."""

    sent: int = 0
    forged: int = 0
    campaign_events: int = 0
    by_provider: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    simulated_days: float = 0.0
    interrupted: bool = False

    def record(self, event: SimulatedEvent, days_per_second: float) -> None:
        self.sent += 1
        self.forged += event.forged
        self.campaign_events += event.campaign
        self.by_provider[event.provider] += 1
        self.by_category[event.fields["category"]] += 1
        self.simulated_days = event.at * days_per_second


@dataclass(frozen=True)
class _Actor:
    user_id: str
    heavy: bool
    jurisdiction: str
    language: str
    verification: str
    account_age: str | None
    model_family: str
    surface: str
    favourite: str | None


class _ProviderModel:
    """A provider's precomputed mixes and Zipf-weighted user pool."""

    def __init__(self, provider: SimulatedProvider, seed: int | str) -> None:
        self.p, self.seed = provider, seed
        self.categories = _boosted(BASE_CATEGORIES, provider.category_boost)
        surfaces = {s for s, _ in provider.surfaces}
        allowed_tech = [
            (t, w)
            for t, w in (*BASE_TECHNIQUES, ("weights_safety_removal", 1.0))
            if t != "weights_safety_removal" or "open_weights_host" in surfaces
        ]
        self.techniques = _boosted(tuple(allowed_tech), provider.technique_boost)
        self.stages = _Mix(provider.stages)
        self.families, self.surfaces = _Mix(provider.model_families), _Mix(provider.surfaces)
        self.jurisdictions, self.languages = _Mix(provider.jurisdictions), _Mix(provider.languages)
        self.verification = _Mix(provider.verification)
        self.rank_cum = list(itertools.accumulate((r + 1) ** -ZIPF_EXPONENT for r in range(provider.users)))
        self.heavy_ranks = max(1, provider.users // 100)
        self._actors: dict[int, _Actor] = {}

    def actor(self, rng: random.Random) -> _Actor:
        rank = rng.choices(range(len(self.rank_cum)), cum_weights=self.rank_cum)[0]
        if rank not in self._actors:
            self._actors[rank] = self._make_actor(rank)
        return self._actors[rank]

    def _make_actor(self, rank: int) -> _Actor:
        rng = random.Random(f"{self.seed}/{self.p.name}/actor/{rank}")
        heavy = rank < self.heavy_ranks
        jurisdiction = self.jurisdictions.pick(rng)
        home = _HOME_LANGUAGE.get(jurisdiction)
        language = home if home and rng.random() < 0.7 else self.languages.pick(rng)
        ages = ("lt_1d", "1d_7d", "7d_30d") if heavy else ("7d_30d", "30d_365d", "gt_365d")
        return _Actor(
            user_id=f"{self.p.name}-user-{rank:06d}",
            heavy=heavy,
            jurisdiction=jurisdiction,
            language=language,
            verification=self.verification.pick(rng),
            account_age=rng.choice(ages) if self.p.reports_account_age else None,
            model_family=self.families.pick(rng),
            surface=self.surfaces.pick(rng),
            favourite=self.categories.pick(rng) if heavy else None,
        )

    def fields(self, rng: random.Random, actor: _Actor) -> dict[str, Any]:
        """The contract fields of one ordinary event of ``actor``."""
        category = actor.favourite if actor.favourite and rng.random() < 0.6 else self.categories.pick(rng)
        technique_rate = min(1.0, self.p.technique_rate * (2 if actor.heavy else 1))
        stage = "account_monitor" if actor.heavy and rng.random() < 0.15 else self.stages.pick(rng)
        score = _score(rng, category, actor.heavy)
        family = actor.model_family if rng.random() < 0.8 else self.families.pick(rng)
        return {
            "surface": actor.surface,
            "model_family": family,
            "detection_stage": stage,
            "category": category,
            "technique": self.techniques.pick(rng) if rng.random() < technique_rate else None,
            "action": _action(rng, stage, score),
            "score": score,
            "jurisdiction": actor.jurisdiction,
            "language": actor.language,
            "identity_verification": actor.verification,
            "account_age_bucket": actor.account_age,
        }

    def campaign_fields(self, rng: random.Random, campaign: Campaign, languages: _Mix) -> tuple[str, dict[str, Any]]:
        """A campaign actor's user id and the fields of one campaign event."""
        user_id = f"{self.p.name}-{campaign.name}-{rng.randrange(campaign.actors):04d}"
        stage = rng.choice(("input_filter", "output_filter", "model_refusal", "account_monitor"))
        score = round(rng.betavariate(4.0, 2.0), 3)
        return user_id, {
            "surface": self.surfaces.pick(rng),
            "model_family": self.families.pick(rng),
            "detection_stage": stage,
            "category": campaign.category,
            "technique": campaign.technique if rng.random() < campaign.technique_share else None,
            "action": _action(rng, stage, score),
            "score": score,
            "jurisdiction": self.jurisdictions.pick(rng),
            "language": languages.pick(rng),
            "identity_verification": rng.choice(("none", "email")),
            "account_age_bucket": rng.choice(("lt_1d", "1d_7d")) if self.p.reports_account_age else None,
        }


class Simulator:
    """Generates skewed, seeded traffic for several providers and sends it through real SDK clients.

    Args:
        providers: the simulated providers (e.g. :func:`demo_providers`).
        credentials: each provider's keys (e.g. :func:`provider_credentials`).
        bootstrap_servers: Kafka address; may be None when only :meth:`generate` is used.
        rate: events per second on an ordinary weekday (weekends run at about half of it).
        seed: makes the generated stream reproducible (pacing and send timing are not).
        campaign: an optional coordinated burst overlaid on the normal traffic.
        days_per_minute: speed of the simulated clock that drives the weekly rhythm; ``occurred_at``
            stays the real UTC time of sending, so workers' clock-skew checks accept the events.
        sim_start: the simulated clock at the start (default: now, UTC).
        bad_events: fraction of records signed with a key the registry does not know (exercises the DLQ).
        stop: set it (from any thread) to end :meth:`run` promptly.
    """

    def __init__(
        self,
        providers: Sequence[SimulatedProvider],
        credentials: Mapping[str, ProviderCredentials],
        bootstrap_servers: str | None,
        rate: float = 50.0,
        seed: int | str = 0,
        campaign: Campaign | None = None,
        *,
        days_per_minute: float = 1.0,
        sim_start: datetime | None = None,
        bad_events: float = 0.0,
        stop: threading.Event | None = None,
        topic: str = EVENTS_TOPIC,
        close_timeout: float = 10.0,
    ) -> None:
        if not providers:
            raise ConfigError("the simulator needs at least one provider")
        missing = [p.name for p in providers if p.name not in credentials]
        if missing:
            raise ConfigError(f"no credentials for provider(s) {', '.join(missing)}")
        if rate <= 0 or days_per_minute < 0 or not 0 <= bad_events < 1:
            raise ConfigError("rate must be > 0, days_per_minute ≥ 0 and bad_events in [0, 1)")
        names = {p.name for p in providers}
        if campaign and not set(campaign.providers) <= names:
            raise ConfigError(f"campaign {campaign.name} targets providers not simulated: {campaign.providers}")
        self.providers, self.credentials, self.bootstrap_servers = tuple(providers), credentials, bootstrap_servers
        self.rate, self.seed, self.campaign, self.bad_events = rate, seed, campaign, bad_events
        self.days_per_second = days_per_minute / 60.0
        self.sim_start = (sim_start or datetime.now(UTC)).astimezone(UTC)
        self.stop_event = stop or threading.Event()
        self.topic, self.close_timeout = topic, close_timeout
        self._models = {p.name: _ProviderModel(p, seed) for p in providers}
        self._weekday_mix = _Mix((p.name, p.share) for p in providers)
        self._weekend_mix = _Mix((p.name, p.share * p.weekend_factor) for p in providers)
        targets = [p for p in providers if not campaign or not campaign.providers or p.name in campaign.providers]
        self._campaign_mix = _Mix((p.name, p.share) for p in targets)
        self._campaign_languages = _Mix(campaign.languages) if campaign else None

    def stop(self) -> None:
        """Ask a running :meth:`run` to finish (thread-safe)."""
        self.stop_event.set()

    def sim_time(self, elapsed: float) -> datetime:
        """The simulated clock ``elapsed`` seconds after the start."""
        return self.sim_start + timedelta(days=elapsed * self.days_per_second)

    def rate_at(self, elapsed: float) -> float:
        """Events per second due ``elapsed`` seconds after the start (weekly rhythm and campaign)."""
        rate = self.rate * WEEKLY_RHYTHM[self.sim_time(elapsed).weekday()]
        return rate * self.campaign.multiplier if self.campaign and self.campaign.active(elapsed) else rate

    def generate(self, n: int | None = None) -> Iterator[SimulatedEvent]:
        """The seeded event stream (endless if ``n`` is None); pure, no network.

        Arrivals are Poisson at :meth:`rate_at`; each call restarts the same stream.
        """
        rng = random.Random(f"{self.seed}/stream")
        elapsed = 0.0
        for _ in range(n) if n is not None else itertools.count():
            yield self._event(rng, elapsed)
            elapsed += rng.expovariate(self.rate_at(elapsed))

    def _event(self, rng: random.Random, elapsed: float) -> SimulatedEvent:
        sim_time = self.sim_time(elapsed)
        campaign = self.campaign if self.campaign and self.campaign.active(elapsed) else None
        in_campaign = bool(campaign and rng.random() < 1 - 1 / campaign.multiplier)
        if campaign and in_campaign and self._campaign_languages:
            model = self._models[self._campaign_mix.pick(rng)]
            user_id, fields = model.campaign_fields(rng, campaign, self._campaign_languages)
        else:
            mix = self._weekend_mix if sim_time.weekday() >= 5 else self._weekday_mix
            model = self._models[mix.pick(rng)]
            actor = model.actor(rng)
            user_id, fields = actor.user_id, model.fields(rng, actor)
        forged = self.bad_events > 0 and rng.random() < self.bad_events
        return SimulatedEvent(elapsed, sim_time, model.p.name, user_id, fields, in_campaign, forged)

    def run(
        self,
        duration: float | None = None,
        max_events: int | None = None,
        progress: Callable[[SimulationSummary], None] | None = None,
        progress_interval: float = 1.0,
    ) -> SimulationSummary:
        """Send the stream paced to :meth:`rate_at` until ``duration`` seconds, ``max_events``, or a stop.

        Ctrl-C (KeyboardInterrupt) or :meth:`stop` ends the run promptly; either way the clients are
        flushed and closed, and the summary says what was sent (``interrupted`` on Ctrl-C).
        ``progress`` receives the live summary at most once per ``progress_interval`` seconds.
        """
        if self.bootstrap_servers is None:
            raise ConfigError("the simulator needs bootstrap_servers to run")
        summary = SimulationSummary()
        log.info(
            "simulating %d provider(s) at %.1f events/s%s",
            len(self.providers),
            self.rate,
            f" with campaign {self.campaign.name}" if self.campaign else "",
        )
        clients: dict[tuple[str, bool], Client] = {}
        start = time.monotonic()
        try:
            clients = self._open_clients()
            self._loop(clients, summary, start, duration, max_events, progress, progress_interval)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.elapsed_s = time.monotonic() - start
            self._close(clients)
        log.info("simulator sent %d events (%d forged) in %.1f s", summary.sent, summary.forged, summary.elapsed_s)
        return summary

    def _loop(
        self,
        clients: dict[tuple[str, bool], Client],
        summary: SimulationSummary,
        start: float,
        duration: float | None,
        max_events: int | None,
        progress: Callable[[SimulationSummary], None] | None,
        progress_interval: float,
    ) -> None:
        last_progress = start
        for event in self.generate(max_events):
            if duration is not None and event.at >= duration:
                break
            delay = start + event.at - time.monotonic()
            if self.stop_event.wait(delay) if delay > 0 else self.stop_event.is_set():
                break
            clients[(event.provider, event.forged)].emit(user_id=event.user_id, **event.fields)
            summary.record(event, self.days_per_second)
            now = time.monotonic()
            if progress is not None and now - last_progress >= progress_interval:
                summary.elapsed_s, last_progress = now - start, now
                progress(summary)

    def _open_clients(self) -> dict[tuple[str, bool], Client]:
        """A real SDK client per provider, plus (with ``bad_events``) one signing with a foreign key."""
        clients: dict[tuple[str, bool], Client] = {}
        try:
            for p in self.providers:
                cred = self.credentials[p.name]
                # No disk spool: demo keys derive from a seed, so a spool left by one demo would replay into the next.
                clients[(p.name, False)] = Client(
                    p.name,
                    cred.pseudonym_key,
                    cred.signing_key,
                    str(self.bootstrap_servers),
                    topic=self.topic,
                    spool_max_bytes=0,
                )
                if self.bad_events > 0:
                    foreign = Ed25519PrivateKey.from_private_bytes(_derive(self.seed, p.name, "forged"))
                    clients[(p.name, True)] = Client(
                        p.name,
                        cred.pseudonym_key,
                        foreign,
                        str(self.bootstrap_servers),
                        topic=self.topic,
                        spool_max_bytes=0,
                    )
        except BaseException:
            self._close(clients)
            raise
        return clients

    def _close(self, clients: Mapping[tuple[str, bool], Client]) -> None:
        for client in clients.values():
            try:
                client.close(timeout=self.close_timeout)
            except Exception as exc:
                log.warning("closing a simulator client failed: %s", exc)
