"""The in-process challenger of the worker bench: a scikit-learn classifier trained on import.

    SHADOW_CHALLENGERS='[{"name": "cancer-tree", "model": "cancer-tree", "kind": "python",
                          "target": "bench.bench_sklearn_model:predict"}]'

Trained on scikit-learn's own breast-cancer data set when the worker first imports it (once per
worker process, or once per pool process with executor=process). `predict` is batch-aware: it takes
the request bodies of a micro-batch and returns one `{"label": 0|1}` per body.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

_DATA = load_breast_cancer()
FEATURES = [name.replace(" ", "_") for name in _DATA.feature_names]
ROWS = _DATA.data
PRODUCTION = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(ROWS, _DATA.target)
# The challenger: a small forest (n_jobs=1: one worker, one core), predicted in one call per micro-batch.
CHALLENGER = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0, n_jobs=1).fit(ROWS, _DATA.target)


def features(row: np.ndarray) -> dict[str, float]:
    return dict(zip(FEATURES, row.tolist()))


def predict(bodies: list[dict]) -> list[dict]:
    X = np.array([[body[f] for f in FEATURES] for body in bodies])
    return [{"label": int(label)} for label in CHALLENGER.predict(X)]
