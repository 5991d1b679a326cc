"""Where the repository's demo data lives: `data/` at the top of the repository (see data/README.md).

Resolved from this file, so it works from any working directory in a source checkout or an editable
install. The files are the dev halves of real public data (AlpacaEval, STS-B); the held-out halves are
not in the repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_FILES", "data_dir", "data_file"]

DATA_FILES = ("paired_responses.jsonl", "scenario_replace_gpt4.jsonl", "scenario_upgrade_davinci.jsonl",
              "sts_dev.jsonl")


def data_dir() -> Path:
    """The repository's `data/` folder (it may be missing in a wheel install: the data is not packaged)."""
    return Path(__file__).resolve().parents[1] / "data"


def data_file(name: str) -> Path:
    """`data_dir() / name`, or FileNotFoundError saying where it was looked for."""
    path = data_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the demo data ships in the repository's data/ folder "
                                f"({', '.join(DATA_FILES)}); run from a source checkout or an editable install")
    return path
