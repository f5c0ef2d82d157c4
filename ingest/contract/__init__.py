"""Event contract v1: what every provider sends and every worker accepts. No Kafka client here.

Modules:
    taxonomy: the public taxonomies (categories, techniques, stages, actions, surfaces, …).
    fields: the field rules, declared once (the model and the fast paths derive from them).
    events: the pydantic ``Event`` built on those rules, its errors, JSON Schema and canonical JSON.
    records: the signed Kafka record format (a batch of one provider's events per record).
    signing: Ed25519 keys and signatures.
    pseudonym: HMAC-SHA256 pseudonyms and per-period key rotation.
    registry: registered providers and their public keys.
    keys: a provider's credentials file (signing key and pseudonym secret).
    topics: topic names and the partitioning rule (an actor's events share a partition).
"""
