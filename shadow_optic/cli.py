"""The `shadow-optic` command. Settings come from SHADOW_* variables, built here once and passed down."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from pydantic import ValidationError

from schemas.errors import ShadowOpticError
from schemas.settings import Settings

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    import shadow_optic.commands as commands

    parser = argparse.ArgumentParser(prog="shadow-optic",
                                     description="Continuous shadow testing of challenger models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args, Settings())
    except ShadowOpticError as exc:
        print(f"shadow-optic: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"shadow-optic: invalid configuration (SHADOW_* variables):\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
