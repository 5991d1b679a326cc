"""Every Redis key name Shadow-Optic uses: the contract between the writers and the readers of each.

Keys live under a namespace, `namespace(topic_prefix)` ("shadow", or "<prefix>shadow" when topics
are prefixed, so that two deployments can share one Redis); the champion keys under
SHADOW_CHAMPION_KEY_PREFIX. Writers and readers both build their keys here, never by hand.
"""

from __future__ import annotations

__all__ = [
    "namespace",
    "registry_hash_key",
    "registry_version_key",
    "registry_seed_key",
    "claim_key",
    "worker_liveness_prefix",
    "rate_key",
    "spend_key",
    "SHARED_SPEND",
    "evidence_key",
    "embedding_key",
    "backfill_checkpoint_key",
    "champion_key",
    "champion_changes_channel",
    "rollout_key",
    "served_stats_key",
    "monitor_lease_key",
    "monitor_alerts_key",
    "auto_promote_key",
    "cost_budget_key",
    "mirror_cap_key",
]

SHARED_SPEND = "_shared"  # the spend key's "challenger" for a budget shared by all of them


def namespace(topic_prefix: str) -> str:
    """The prefix of every key of a deployment but the champion's."""
    return f"{topic_prefix}shadow"


def registry_hash_key(ns: str) -> str:
    """Hash name -> ChallengerConfig JSON: written by the registry (stream_agents), read by the gateway."""
    return f"{ns}:challengers"


def registry_version_key(ns: str) -> str:
    """Counter bumped on every registry change: workers reload when it moves."""
    return f"{ns}:challengers:version"


def registry_seed_key(ns: str) -> str:
    """Digest and entries of the SHADOW_CHALLENGERS list last seeded into the registry."""
    return f"{ns}:challengers:seeded"


def claim_key(ns: str, challenger: str, event_id: str) -> str:
    """The claim (then the stored result) of one (event, challenger) pair: at most one call each."""
    return f"{ns}:claim:{challenger}:{event_id}"


def worker_liveness_prefix(ns: str) -> str:
    """`<this><worker id>` exists while that worker is alive; its claims are orphaned once it is gone."""
    return f"{ns}:worker:"


def mirror_cap_key(ns: str, route: str, second: int) -> str:
    """Events of `route` the gateways leased in one UTC second (INCRBY, expires): the shared mirror cap."""
    return f"{ns}:mirror-cap:{route}:{second}"


def rate_key(ns: str, challenger: str) -> str:
    """The challenger's shared token bucket (calls per second across workers)."""
    return f"{ns}:rate:{challenger}"


def spend_key(ns: str, challenger: str, period_bucket: str) -> str:
    """Spend of a challenger (or SHARED_SPEND) in one budget period (e.g. the day's bucket)."""
    return f"{ns}:spend:{challenger}:{period_bucket}"


def evidence_key(ns: str) -> str:
    """Hash `<challenger>:p|f` -> count of passes and fails, for Thompson allocation."""
    return f"{ns}:evidence"


def embedding_key(ns: str, model: str, chunk_chars: int, digest: str) -> str:
    """A cached embedding (float32 bytes) of the text whose sha256 is `digest`."""
    return f"{ns}:emb:{model}:c{chunk_chars}:{digest}"


def backfill_checkpoint_key(ns: str, job_id: str) -> str:
    """The resumable state of one backfill job (`shadow-optic replay --resume`)."""
    return f"{ns}:backfill:{job_id}"


def champion_key(champion_key_prefix: str, app: str) -> str:
    """Hash with `champion`, `previous`, `version`, … written by promote/rollback (analytics), read by the gateway."""
    return f"{champion_key_prefix}:{app}"


def champion_changes_channel(champion_key_prefix: str, app: str) -> str:
    """Pub/sub channel announcing each champion change of `app`."""
    return f"{champion_key_prefix}:{app}:changes"


def rollout_key(champion_key_prefix: str, app: str) -> str:
    """String (schemas.rollout.RolloutPlan JSON): written by promote --canary and the monitor, read by gateways."""
    return f"{champion_key_prefix}:{app}:rollout"


def served_stats_key(champion_key_prefix: str, app: str, rollout_id: str, step_index: int, arm: str) -> str:
    """Hash of counters `<t>:requests`, `<t>:errors`, `<t>:lat:<i>` (t: unix time // STATS_BUCKET_S, i: a
    LATENCY_BUCKETS_MS bucket; schemas/rollout.py), added to by every gateway, read by the monitor."""
    return f"{champion_key_prefix}:{app}:rollout:{rollout_id}:{step_index}:{arm}"


def monitor_lease_key(champion_key_prefix: str, app: str) -> str:
    """The acting monitor's name, with a TTL it renews (shadow_optic/monitor.py)."""
    return f"{champion_key_prefix}:{app}:monitor:leader"


def monitor_alerts_key(champion_key_prefix: str, app: str) -> str:
    """Hash `<subject>|<rule>` -> the last alert transition delivered (JSON): each fires and clears once."""
    return f"{champion_key_prefix}:{app}:monitor:alerts"


def auto_promote_key(champion_key_prefix: str, app: str) -> str:
    """Hash `challenger`, `count`: consecutive promote verdicts seen by auto-promotion."""
    return f"{champion_key_prefix}:{app}:monitor:auto-promote"


def cost_budget_key(champion_key_prefix: str, app: str) -> str:
    """String (analytics.cost_budget.CostBudget JSON): the cost budget set at run time."""
    return f"{champion_key_prefix}:{app}:cost-budget"
