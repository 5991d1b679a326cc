"""A real scikit-learn model as an in-process challenger: Kafka -> worker -> ClickHouse.

The test trains two classifiers on scikit-learn's own breast-cancer data set: production's (a scaled
logistic regression, whose answers are in the events) and the challenger (a depth-3 decision tree,
pickled next to a small module the worker imports by `module:callable`). The same tree runs twice:
batch-aware on the worker's loop, and one input per call in the worker's process pool. Every row
must hold the tree's own prediction for its event (label_challenger), and label agreement must
match the two models' agreement computed here.
"""

from __future__ import annotations

import json
import pickle
import textwrap
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import CapturedResponse, InferenceEvent, NormalizedRequest
from schemas.settings import ChallengerConfig
from tests.integration.conftest import wait_for_rows
from tests.integration.stream_agents.helpers import publish

pytestmark = pytest.mark.integration
N = 80

MODULE = textwrap.dedent('''
    """The challenger: a decision tree pickled by the test, loaded once when the worker imports this."""
    from __future__ import annotations
    import pathlib, pickle
    import numpy as np

    _FEATURES, _MODEL = pickle.loads(pathlib.Path(__file__).with_suffix(".pkl").read_bytes())

    def predict_batch(rows: list[dict]) -> list[dict]:
        X = np.array([[row[f] for f in _FEATURES] for row in rows])
        return [{"label": label} for label in _MODEL.predict(X)]  # numpy ints: the worker makes them JSON

    def predict_one(row):
        return predict_batch([row])[0]
''')


def test_scikit_learn_challenger_in_process(pipeline_settings, processes, clickhouse, tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    data = load_breast_cancer()
    features = [name.replace(" ", "_") for name in data.feature_names]
    production = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data.data, data.target)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(data.data, data.target)
    module = f"shadow_it_cancer_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.pkl").write_bytes(pickle.dumps((features, tree)))
    (tmp_path / f"{module}.py").write_text(MODULE)

    rows = data.data[:: len(data.data) // N][:N]
    prod_labels = production.predict(rows).tolist()
    tree_labels = tree.predict(rows).tolist()
    app = pipeline_settings.app_name
    now = datetime.now(UTC)
    events = [InferenceEvent(
        event_id=f"cancer-{i:03d}-{app}", app=app, route="/models/cancer/predict", production_model="cancer-logreg",
        ts_request=now - timedelta(milliseconds=5), ts_response=now, latency_ms=5.0, request_hash=f"h{i}",
        request=NormalizedRequest(kind="json", model="cancer-logreg", params=dict(zip(features, row.tolist()))),
        response=CapturedResponse(status_code=200, text=json.dumps({"label": label})))
        for i, (row, label) in enumerate(zip(rows, prod_labels))]

    challengers = [
        ChallengerConfig(name="tree-batch", model="cancer-tree", kind="python", target=f"{module}:predict_batch",
                         max_batch=16),
        ChallengerConfig(name="tree-pool", model="cancer-tree", kind="python", target=f"{module}:predict_one",
                         executor="process"),
    ]
    settings = pipeline_settings.model_copy(update={"challengers": challengers, "python_challenger_processes": 1})
    worker = processes.start("worker", settings, "worker", pythonpath=(tmp_path,))
    publish(settings, events)
    assert wait_for_rows(clickhouse, app, 2 * N, timeout_s=180, process=worker) == 2 * N

    found = clickhouse.query(
        "SELECT event_id, challenger, status, error, label_challenger, label_production, label_agree, exact_match, "
        "challenger_model FROM shadow_scores FINAL WHERE app = {app:String}", parameters={"app": app}).result_rows
    expected = {e.event_id: str(label) for e, label in zip(events, tree_labels)}
    agree = {e.event_id: p == t for e, p, t in zip(events, prod_labels, tree_labels)}
    for event_id, name, status, error, label, label_production, label_agree, exact, model in found:
        assert (status, error) == ("ok", ""), (name, status, error)
        assert label == expected[event_id], (name, event_id, label)  # the tree's own prediction
        assert bool(label_agree) == bool(exact) == agree[event_id], (name, event_id, label_production)
        assert model == "cancer-tree"
    assert {name for _, name, *_ in found} == {"tree-batch", "tree-pool"}
    # The two models do disagree on some rows: the exact-match check above could fail.
    assert 0 < sum(agree.values()) < N
