"""How every process reaches Kafka, Redis and ClickHouse securely: the security sections of the settings
(security.py, plain pydantic, imported by schemas.settings) and the one place that turns them into client
configurations (kafka.py: confluent-kafka and Faust/aiokafka; redis.py; clickhouse options).

Nothing is imported eagerly here: schemas.settings imports connections.security, and connections.kafka
imports schemas.errors, so an eager import would make a cycle.
"""

__all__: list[str] = []
