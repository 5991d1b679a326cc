"""One router per concern: status (health, status, lag), analysis, challengers, decisions."""

__all__: list[str] = []
