"""A test that passes by skipping is a defect here: any skipped test fails the session.

What the tests need (data/, the test extras, the local stack) the repository and the test command
provide. An optional extra that the test command does not install (local-embeddings) has its tests
behind a marker that the default run deselects (pyproject's addopts): deselected, not skipped.
"""

from __future__ import annotations

import pytest

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(f"{report.nodeid}: {report.longrepr[2] if isinstance(report.longrepr, tuple) else ''}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 (pytest's own type)
    if _skipped:
        terminalreporter.write_line(f"FAILED: {len(_skipped)} test(s) skipped; no test may pass by skipping:",
                                    red=True)
        for line in _skipped:
            terminalreporter.write_line(f"  {line}", red=True)
