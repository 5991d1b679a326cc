"""Local stack helpers (servers the launcher starts)."""

__all__: list[str] = []
