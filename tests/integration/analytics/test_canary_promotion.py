"""`promote --canary` and auto-promotion on the real stack: the plan lands in Redis, the champion stays
until the monitor completes it, and a rollback during the canary ends it (history records each)."""

from __future__ import annotations

import json

from analytics.champion import ChampionRegistry
from analytics.history import list_history
from analytics.rollout import RolloutStore
from shadow_optic.cli import main
from shadow_optic.monitor import Monitor
from tests.integration.analytics.test_promotion_flow import app_settings, loaded  # noqa: F401 - fixtures


def _env(monkeypatch, settings) -> None:
    for field in ("clickhouse_url", "redis_url", "kafka_bootstrap", "app_name", "topic_prefix", "consumer_group",
                  "champion_key_prefix"):
        monkeypatch.setenv(f"SHADOW_{field.upper()}", str(getattr(settings, field)))


def test_promote_canary_starts_the_plan_and_rollback_ends_it(app_settings, clickhouse, loaded, monkeypatch,
                                                              capsys):
    _env(monkeypatch, app_settings)
    assert main(["promote", "better-cheap", "--canary", "--steps", "1,5,25,50,100", "--hold", "60s", "--json",
                 "--no-lag-check"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["done"] and result["action"] == "canary"
    plan = RolloutStore.from_url(app_settings.redis_url, app_settings.champion_key_prefix).get(loaded)
    assert (plan.candidate, plan.champion, plan.steps, plan.hold_s, plan.state) == \
        ("better-cheap", "production", [1, 5, 25, 50, 100], 60, "running")
    champions = ChampionRegistry.from_url(app_settings.redis_url, app_settings.champion_key_prefix)
    assert champions.current(loaded).champion is None  # the champion serves until the canary completes

    # A second canary while one runs is refused with what to do.
    assert main(["promote", "better-pricey", "--canary", "--no-lag-check"]) == 2
    assert "already has a canary" in capsys.readouterr().err

    assert main(["rollback", "--reason", "operator saw enough", "--json"]) == 0
    ended = json.loads(capsys.readouterr().out)
    assert ended["rollout"]["state"] == "rolled_back" and ended["rollout"]["reason"] == "operator saw enough"
    kinds = [r.kind for r in list_history(clickhouse, loaded, 10)]
    assert kinds[:2] == ["rollback", "canary"]

    assert main(["promote", "better-cheap", "--now", "--json", "--no-lag-check"]) == 0
    assert json.loads(capsys.readouterr().out)["champion"]["champion"] == "better-cheap"


def test_auto_promotion_starts_a_canary_after_n_promote_verdicts_in_a_row(app_settings, clickhouse, loaded):
    settings = app_settings.model_copy(update={"auto_promote": True, "auto_promote_checks": 2, "monitor_port": 0,
                                               "kafka_bootstrap": None})
    store = RolloutStore.from_url(settings.redis_url, settings.champion_key_prefix)
    monitor = Monitor(settings, holder="test")
    try:
        monitor.check_auto_promotion()
        assert store.get(loaded) is None  # one promote verdict is not enough
        monitor.check_auto_promotion()
        plan = store.get(loaded)
        assert plan is not None and plan.candidate == "better-cheap" and plan.state == "running"
        assert plan.steps == settings.promotion_canary_steps
        record = list_history(clickhouse, loaded, 1)[0]
        assert record.kind == "canary" and record.actor == "monitor (auto-promotion)"
    finally:
        monitor.close()


def test_auto_promotion_is_off_by_default(app_settings, clickhouse, loaded):
    monitor = Monitor(app_settings.model_copy(update={"monitor_port": 0}), holder="test")
    try:
        for _ in range(3):
            monitor.check_auto_promotion()
        assert RolloutStore.from_url(app_settings.redis_url, app_settings.champion_key_prefix).get(loaded) is None
    finally:
        monitor.close()
