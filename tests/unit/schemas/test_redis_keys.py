from schemas import redis_keys as keys


def test_key_names_are_those_running_deployments_already_have_in_redis():
    ns = keys.namespace("p.")
    assert ns == "p.shadow" and keys.namespace("") == "shadow"
    assert keys.registry_hash_key(ns) == "p.shadow:challengers"
    assert keys.registry_version_key(ns) == "p.shadow:challengers:version"
    assert keys.registry_seed_key(ns) == "p.shadow:challengers:seeded"
    assert keys.claim_key(ns, "c1", "e1") == "p.shadow:claim:c1:e1"
    assert keys.worker_liveness_prefix(ns) == "p.shadow:worker:"
    assert keys.rate_key(ns, "c1") == "p.shadow:rate:c1"
    assert keys.spend_key(ns, keys.SHARED_SPEND, "2026-12-04") == "p.shadow:spend:_shared:2026-12-04"
    assert keys.evidence_key(ns) == "p.shadow:evidence"
    assert keys.embedding_key(ns, "m", 0, "ab") == "p.shadow:emb:m:c0:ab"
    assert keys.backfill_checkpoint_key(ns, "j1") == "p.shadow:backfill:j1"
    assert keys.champion_key("shadow-optic:champion", "app") == "shadow-optic:champion:app"
    assert keys.champion_changes_channel("shadow-optic:champion", "app") == "shadow-optic:champion:app:changes"
