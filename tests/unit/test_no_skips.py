"""The session guard in tests/conftest.py: a skipped test fails the run (CI must not pass by skipping)."""

import shutil
import subprocess
import sys
from pathlib import Path


def test_a_skipped_test_fails_the_session(tmp_path):
    shutil.copy(Path(__file__).resolve().parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_example.py").write_text(
        "import pytest\n\ndef test_skips():\n    pytest.skip('the data file is missing')\n\n"
        "def test_passes():\n    assert True\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "no test may pass by skipping" in done.stdout and "the data file is missing" in done.stdout


def test_without_skips_the_session_passes(tmp_path):
    shutil.copy(Path(__file__).resolve().parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_example.py").write_text("def test_passes():\n    assert True\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
