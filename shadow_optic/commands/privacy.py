"""`shadow-optic privacy forget --tenant T | --user U` and `privacy retention`: delete one tenant's or one
user's data from ClickHouse (and say what stays in Kafka until retention), and apply SHADOW_RETENTION_DAYS."""

from __future__ import annotations

import argparse
import json

from schemas.errors import ConfigError
from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from infra.clickhouse import connect
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(settings)
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        if args.action == "forget":
            from analytics.privacy import forget

            report = forget(settings, client, tenant=args.tenant, user=args.user, dry_run=args.dry_run)
            if args.json:
                print(report.model_dump_json())
                return 0
            verb = "would delete" if report.dry_run else "deleted"
            print(f"{verb} {sum(report.deleted_rows.values())} rows ({report.event_ids} events) from ClickHouse:")
            for table, rows in report.deleted_rows.items():
                print(f"  {table:<36} {rows}")
            for left in report.kafka:
                until = left.gone_by.isoformat() if left.gone_by else "no retention set: until deleted by hand"
                print(f"  Kafka {left.topic}: {left.messages} records remain" +
                      (f", gone by {until}" if left.messages else ""))
            print(report.note)
            return 0
        from infra.retention import apply_table_ttl, apply_topic_retention, retained_tables

        if settings.retention_days is None:
            if args.json:
                print(json.dumps({"retention_days": None, "tables": [t for t, _ in retained_tables(client)]}))
                return 0
            raise ConfigError("SHADOW_RETENTION_DAYS is not set: nothing to apply (tables keep their current TTL)")
        tables = apply_table_ttl(client, settings.retention_days)
        apply_topic_retention(settings.kafka_bootstrap, settings.topics.all(), settings.retention_days,
                              settings.kafka_security)
        print(json.dumps({"retention_days": settings.retention_days, "tables": tables,
                          "topics": settings.topics.all()}) if args.json else
              f"retention {settings.retention_days:g} days: TTL on {len(tables)} tables, retention.ms on "
              f"{len(settings.topics.all())} topics")
        return 0
    finally:
        client.close()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("privacy", help="forget a tenant's or user's data; apply the retention setting")
    parser.add_argument("action", choices=["forget", "retention"])
    parser.add_argument("--tenant", help="forget: the tenant (the event's tenant)")
    parser.add_argument("--user", help="forget: the user (the event's `user` tag, X-Shadow-Tag-User)")
    parser.add_argument("--dry-run", action="store_true", help="forget: count, delete nothing")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_run)
