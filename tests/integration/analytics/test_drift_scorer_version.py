"""Drift reads one scorer version: the latest by default, named in the output; several is an error."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from analytics.scope import Scope, one_scorer_version
from analytics.windows import DriftQuery, drift
from shadow_optic.api import create_api
from shadow_optic.cli import main
from tests.integration.analytics.synthetic import insert, make_records

pytestmark = pytest.mark.integration
N = 300


@pytest.fixture
def rescored(stack_settings, clickhouse):
    """The same calls scored by v1, then rescored by v2 (later ts_scored), with different similarities."""
    run = uuid.uuid4().hex[:8]
    settings = stack_settings.model_copy(update={"app_name": f"drift-{run}", "topic_prefix": f"t{run}.",
                                                 "champion_key_prefix": f"champ-{run}"})
    app = settings.app_name
    old = make_records(app, "cheap", N, seed=1, shift=-0.3, scorer_version="v1", hours=2)
    new = [r.model_copy(update={"ts_scored": r.ts_scored + timedelta(days=1)})
           for r in make_records(app, "cheap", N, seed=1, scorer_version="v2", hours=2)]
    for records in (old, new):
        insert(clickhouse, [r.model_copy(update={"event_id": f"{app}-{r.event_id}"}) for r in records])
    return settings, app


def test_cli_drift_defaults_to_the_latest_scorer_version_and_refuses_a_mix(rescored, monkeypatch, capsys):
    settings, app = rescored
    for field in ("clickhouse_url", "redis_url", "kafka_bootstrap", "app_name", "topic_prefix"):
        monkeypatch.setenv(f"SHADOW_{field.upper()}", str(getattr(settings, field)))
    for extra in ([], ["--exact"], ["--simple"]):
        assert main(["drift", "--minutes", "60", "--json", *extra]) == 0  # the app: SHADOW_APP_NAME
        windows = json.loads(capsys.readouterr().out)
        assert {w["scorer_version"] for w in windows} == {"v2"} and sum(w["rows"] for w in windows) == N, extra
    assert main(["drift", "--minutes", "60", "--scorer-version", "v1", "--json"]) == 0
    assert {w["scorer_version"] for w in json.loads(capsys.readouterr().out)} == {"v1"}
    assert main(["drift", "--minutes", "60"]) == 0
    assert "scorer v2" in capsys.readouterr().out
    for several in (["--scorer-version", "v1", "--scorer-version", "v2"], ["--scorer-version", "v1,v2"]):
        assert main(["drift", *several]) == 2
        assert "one scorer version at a time" in capsys.readouterr().err


def test_api_drift_defaults_to_the_latest_scorer_version_and_refuses_a_mix(rescored, clickhouse):
    settings, _ = rescored
    with TestClient(create_api(settings)) as client:
        answer = client.get("/drift", params={"minutes": 60})
        assert answer.status_code == 200 and answer.headers["x-shadow-scorer-version"] == "v2"
        rows = answer.json()
        assert {r["scorer_version"] for r in rows} == {"v2"} and sum(r["rows"] for r in rows) == N
        pinned = client.get("/drift", params={"minutes": 60, "scorer_version": "v1"})
        assert {r["scorer_version"] for r in pinned.json()} == {"v1"}
        mixed = client.get("/drift", params=[("minutes", 60), ("scorer_version", "v1"), ("scorer_version", "v2")])
        assert mixed.status_code == 400 and "one scorer version at a time" in mixed.json()["message"]


def test_drift_windows_default_to_the_latest_scorer_version(rescored, clickhouse):
    _, app = rescored
    # The one drift API: the scope's version resolved as the CLI and the API do (the older drift_windows is gone).
    windows = drift(clickhouse, DriftQuery(scope=Scope(app=app, scorer_version=one_scorer_version(clickhouse, app)),
                                           minutes=60, source="exact"))
    assert {w.scorer_version for w in windows} == {"v2"} and sum(w.rows for w in windows) == N
