"""docs/fleet.md shows the fleet table's DDL exactly as the sink creates it, and cluster DDL built from
the same columns (paste :func:`table_block` / :func:`cluster_block` when these fail)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from exectrail.query.fleetstatus import fleet_status
from exectrail.sinks.clickhouse import open_fleet
from exectrail.warehouse.table import ENGINE, create_table_sql, wanted_columns, words_ddl
from tests.support.fake_sinks import wait_for
from tests.support.fleet import heartbeat, send
from tests.support.paths import DOCS
from tests.support.servers import ClickHouse

PAGE = DOCS / "fleet.md"
TABLE = "default.exec_events"
REPLICATED = "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/exec_events', '{replica}')"


def one_line(sql: str) -> str:
    """``sql`` with its layout dropped: runs of whitespace as one space, none inside parentheses' edges."""
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join(sql.split())))


def laid_out(head: str, engine: str) -> str:
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in wanted_columns())
    return f"{head} (\n    {columns}\n)\n{engine.replace(' PARTITION BY', chr(10) + 'PARTITION BY')};"


def table_block() -> str:
    """The DDL of docs/fleet.md, one column a line."""
    return laid_out(f"CREATE TABLE IF NOT EXISTS {TABLE}", ENGINE)


def cluster_block() -> str:
    """The cluster's DDL of docs/fleet.md: the replicated local table on every node, and the
    Distributed table over them, sharded by host."""
    local = laid_out(
        "CREATE TABLE IF NOT EXISTS default.exec_events_local ON CLUSTER fleet",
        ENGINE.replace("ReplacingMergeTree()", REPLICATED),
    )
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {TABLE} ON CLUSTER fleet AS default.exec_events_local\n"
        "ENGINE = Distributed(fleet, default, exec_events_local, cityHash64(host));"
    )
    return f"{local}\n\n{distributed}"


def sql_blocks() -> list[str]:
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", PAGE.read_text(), re.DOTALL)]


def test_the_table_block_is_what_the_sink_creates() -> None:
    assert one_line(table_block()) == create_table_sql(TABLE) + ";"
    assert table_block() in sql_blocks(), "docs/fleet.md's DDL is stale:\n" + table_block()


def test_the_cluster_block_has_the_same_columns() -> None:
    assert cluster_block() in sql_blocks(), "docs/fleet.md's cluster DDL is stale:\n" + cluster_block()
    local = one_line(cluster_block().split(";")[0])
    assert local == create_table_sql("default.exec_events_local ON CLUSTER fleet").replace(
        "ReplacingMergeTree()", REPLICATED
    )


# ---- the cluster DDL on the real server ---------------------------------------------------------


@pytest.mark.server
def test_the_cluster_ddl_parses_on_the_server(clickhouse: ClickHouse) -> None:
    """The server (a one-node cluster without ZooKeeper or macros) cannot run the statements, but it
    parses them: each fails for what the node lacks (distributed DDL, the ``{shard}`` macro)."""
    local, distributed = cluster_block().split(";")[:2]
    no_ddl, no_macro = "DDL background thread is not initialized", "No macro shard in config"
    attempts = ((local, no_ddl), (distributed, no_ddl), (local.replace(" ON CLUSTER fleet", ""), no_macro))
    for statement, reason in attempts:
        with pytest.raises(RuntimeError) as refused:
            clickhouse.query(statement)
        assert reason in str(refused.value) and "Syntax error" not in str(refused.value)


@pytest.mark.server
def test_sink_and_status_through_a_distributed_table(clickhouse: ClickHouse) -> None:
    """The Distributed table of docs/fleet.md over a local ReplacingMergeTree (the replicated engine
    needs ZooKeeper): the sink writes through it, duplicates collapse per shard, the status reads it."""
    clickhouse.query(create_table_sql("default.dist_local"))
    clickhouse.query("CREATE TABLE default.dist AS default.dist_local "
                     "ENGINE = Distributed(fleet, default, dist_local, cityHash64(host))")  # fmt: skip
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    bodies = [heartbeat("a", now - timedelta(seconds=30)), heartbeat("b", now - timedelta(seconds=500))]
    send(clickhouse, "dist", bodies)
    send(clickhouse, "dist", bodies[1:])  # delivered twice
    wait_for(
        lambda: clickhouse.query("SELECT count() FROM default.dist").strip() == "3",
        "the rows through the Distributed table",
        30,
    )
    fleet = open_fleet(clickhouse.url(table="dist"))
    try:
        status = fleet_status(fleet, now)
    finally:
        fleet.close()
    assert [(h.name, h.silent) for h in status.hosts] == [("a", False), ("b", True)]
    assert [h.heartbeats for h in status.hosts] in ([1, 2], [1, 1])  # b's copy: until merged, or merged
    assert clickhouse.query("SELECT count() FROM default.dist FINAL").strip() == "2"


def test_the_word_index_block_is_what_the_sink_creates() -> None:
    block = ";\n\n".join(words_ddl(TABLE)) + ";"
    assert block in sql_blocks(), "docs/fleet.md's word index DDL is stale:\n" + block
