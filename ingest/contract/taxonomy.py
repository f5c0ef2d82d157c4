"""The public taxonomies of event contract v1.

Every dimension here is public knowledge, so report cells over these keys are released without
key selection. Values are stable identifiers: never rename one, add a new one instead. Which event
field draws from which taxonomy is declared with the other field rules, in :mod:`ingest.contract.fields`.
"""

from __future__ import annotations

from enum import StrEnum

import pycountry


class Category(StrEnum):
    """Harm domains, led by the extraordinarily dangerous ones (mapped to MLCommons / Llama Guard)."""

    CBRN_BIO = "cbrn.bio"
    CBRN_CHEM = "cbrn.chem"
    CBRN_RADNUC = "cbrn.radnuc"
    WEAPONS_CONVENTIONAL = "weapons.conventional"
    CYBER_MALWARE = "cyber.malware"
    CYBER_INTRUSION = "cyber.intrusion"
    TERRORISM_ATTACK_PLANNING = "terrorism.attack_planning"
    TERRORISM_PROPAGANDA = "terrorism.propaganda"
    FRAUD_PHISHING = "fraud.phishing"
    FRAUD_SCAM = "fraud.scam"
    ELECTION_INFLUENCE_OPS = "election.influence_ops"
    CSEA = "csea"
    HATE_HARASSMENT = "hate_harassment"
    SELF_HARM = "self_harm"
    PRIVACY_SURVEILLANCE = "privacy_surveillance"
    PLATFORM_ABUSE = "platform_abuse"
    OTHER = "other"


#: Category → MLCommons AILuminate hazard / Llama Guard 3 code, for readers who know those lists.
CATEGORY_MAPPING: dict[Category, str] = {
    Category.CBRN_BIO: "S9 indiscriminate weapons (bio)",
    Category.CBRN_CHEM: "S9 indiscriminate weapons (chem)",
    Category.CBRN_RADNUC: "S9 indiscriminate weapons (rad/nuc)",
    Category.WEAPONS_CONVENTIONAL: "S9 indiscriminate weapons (explosives) / S1 violent crimes",
    Category.CYBER_MALWARE: "S2 non-violent crimes (cyber) / OpenAI malicious cyber",
    Category.CYBER_INTRUSION: "S2 non-violent crimes (cyber)",
    Category.TERRORISM_ATTACK_PLANNING: "S1 violent crimes (terrorism)",
    Category.TERRORISM_PROPAGANDA: "S1 violent crimes / S10 hate (extremist content)",
    Category.FRAUD_PHISHING: "S2 non-violent crimes (fraud)",
    Category.FRAUD_SCAM: "S2 non-violent crimes (fraud)",
    Category.ELECTION_INFLUENCE_OPS: "S13 elections",
    Category.CSEA: "S4 child sexual exploitation",
    Category.HATE_HARASSMENT: "S10 hate",
    Category.SELF_HARM: "S11 suicide & self-harm",
    Category.PRIVACY_SURVEILLANCE: "S7 privacy",
    Category.PLATFORM_ABUSE: "S14 code interpreter abuse / terms-of-service abuse",
    Category.OTHER: "unmapped",
}

#: The domains the report leads with.
EXTRAORDINARILY_DANGEROUS: frozenset[Category] = frozenset(
    {
        Category.CBRN_BIO,
        Category.CBRN_CHEM,
        Category.CBRN_RADNUC,
        Category.WEAPONS_CONVENTIONAL,
        Category.TERRORISM_ATTACK_PLANNING,
    }
)


class Technique(StrEnum):
    """Jailbreak tactics, each mapped to a MITRE ATLAS technique below."""

    LOW_RESOURCE_LANGUAGE = "low_resource_language"
    ENCODING = "encoding"
    ROLEPLAY = "roleplay"
    HYPOTHETICAL = "hypothetical"
    DECOMPOSITION = "decomposition"
    MULTITURN_ESCALATION = "multiturn_escalation"
    AUTOMATED = "automated"
    PROMPT_INJECTION = "prompt_injection"
    SYSTEM_PROMPT_EXTRACTION = "system_prompt_extraction"
    WEIGHTS_SAFETY_REMOVAL = "weights_safety_removal"
    UNKNOWN = "unknown"


TECHNIQUE_ATLAS: dict[Technique, str] = {
    Technique.LOW_RESOURCE_LANGUAGE: "AML.T0054 LLM Jailbreak",
    Technique.ENCODING: "AML.T0054 LLM Jailbreak",
    Technique.ROLEPLAY: "AML.T0054 LLM Jailbreak",
    Technique.HYPOTHETICAL: "AML.T0054 LLM Jailbreak",
    Technique.DECOMPOSITION: "AML.T0054 LLM Jailbreak",
    Technique.MULTITURN_ESCALATION: "AML.T0054 LLM Jailbreak",
    Technique.AUTOMATED: "AML.T0054 LLM Jailbreak",
    Technique.PROMPT_INJECTION: "AML.T0051 LLM Prompt Injection",
    Technique.SYSTEM_PROMPT_EXTRACTION: "AML.T0056 LLM Meta Prompt Extraction",
    Technique.WEIGHTS_SAFETY_REMOVAL: "AML.T0018 Manipulate AI Model",
    Technique.UNKNOWN: "unmapped",
}


class DetectionStage(StrEnum):
    INPUT_FILTER = "input_filter"
    OUTPUT_FILTER = "output_filter"
    MODEL_REFUSAL = "model_refusal"
    REJECTION_SAMPLING = "rejection_sampling"
    SYSTEM_PROMPT_GUARD = "system_prompt_guard"
    ACCOUNT_MONITOR = "account_monitor"


class Action(StrEnum):
    """What the provider did; the last three are monitoring-based account restrictions."""

    ALLOW = "allow"
    AUDIT = "audit"
    WARN = "warn"
    MODIFY = "modify"
    BLOCK = "block"
    RATE_LIMIT = "rate_limit"
    SUSPEND = "suspend"
    BAN = "ban"


class Surface(StrEnum):
    CONSUMER_APP = "consumer_app"
    API = "api"
    ENTERPRISE = "enterprise"
    OPEN_WEIGHTS_HOST = "open_weights_host"


class IdentityVerification(StrEnum):
    NONE = "none"
    EMAIL = "email"
    PHONE = "phone"
    PAYMENT = "payment"
    GOVERNMENT_ID = "government_id"


class AccountAgeBucket(StrEnum):
    UNDER_1D = "lt_1d"
    D1_TO_7 = "1d_7d"
    D7_TO_30 = "7d_30d"
    D30_TO_365 = "30d_365d"
    OVER_1Y = "gt_365d"


#: Region buckets for providers that only know a coarse location. "ZZ" is ISO's unknown code.
REGION_BUCKETS: dict[str, str] = {
    "EU": "European Union (unspecified member)",
    "ZZ": "Unknown",
}

#: ISO 3166-1 alpha-2 codes plus the region buckets.
JURISDICTIONS: frozenset[str] = frozenset({c.alpha_2 for c in pycountry.countries} | set(REGION_BUCKETS))

#: ISO 639-1 two-letter codes plus "und" (undetermined, from ISO 639-2).
LANGUAGES: frozenset[str] = frozenset(
    {lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")} | {"und"}
)


def jurisdiction_name(code: str) -> str:
    """A readable name for a jurisdiction code."""
    if code in REGION_BUCKETS:
        return REGION_BUCKETS[code]
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code
