"""The fleet's events in ClickHouse: the HTTP client, the table (columns, DDL, upgrades) and the rows.

The ClickHouse sink writes through this package and the fleet queries (``--from clickhouse+http://…``)
read through it, so both agree on one table by construction.
"""
