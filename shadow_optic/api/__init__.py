"""The HTTP control API (FastAPI): `create_api(settings)`; served by `shadow-optic api`."""

from shadow_optic.api.app import create_api

__all__ = ["create_api"]
