"""CLI subcommands, one module per area; each module has `register(subparsers)`.

cli.py discovers the modules here, so a new area adds a file and touches nothing else.
"""

__all__: list[str] = []
