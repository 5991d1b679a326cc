"""Each public analytics function is defined once: two copies drift apart (latest_scorer_version did)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ANALYTICS = Path(__file__).resolve().parents[3] / "analytics"


def test_no_public_function_is_defined_in_two_analytics_modules():
    defined: dict[str, list[str]] = defaultdict(list)
    for path in sorted(ANALYTICS.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                defined[node.name].append(str(path.relative_to(ANALYTICS.parent)))
    twice = {name: paths for name, paths in defined.items() if len(paths) > 1}
    assert not twice, f"defined more than once (keep one, import it elsewhere): {twice}"
