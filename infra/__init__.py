"""Plumbing every layer may use: how to reach ClickHouse, read a slice of a Kafka topic, and call
HTTP services over aiohttp's pool. Depends on `schemas` only (its errors); knows nothing of the
stages or of `shadow_optic`."""

__all__: list[str] = []
