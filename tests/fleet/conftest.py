"""Fixtures of the fleet tests: the real ClickHouse server of tests/support/servers.py."""

from tests.support.servers import clickhouse

__all__ = ["clickhouse"]
