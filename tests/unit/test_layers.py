"""The layers import one way: schemas (contracts) <- infra (plumbing) <- producers, stream_agents,
analytics <- shadow_optic (the front door). An import against the flow fails here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# package -> the project packages it must not import
FORBIDDEN = {
    "schemas": {"infra", "producers", "stream_agents", "analytics", "shadow_optic"},
    "infra": {"producers", "stream_agents", "analytics", "shadow_optic"},
    "producers": {"stream_agents", "analytics", "shadow_optic"},
    "stream_agents": {"producers", "analytics", "shadow_optic"},
    "analytics": {"producers", "shadow_optic"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_package_imports_against_the_flow():
    wrong = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in _imported_packages(path) & forbidden:
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not wrong, "\n".join(wrong)
