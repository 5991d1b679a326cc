"""Shadow-Optic."""

__all__: list[str] = []
