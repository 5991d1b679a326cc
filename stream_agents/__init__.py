"""Shadow-Optic stream agents: replay, scoring and sink stages."""

__all__: list[str] = []
