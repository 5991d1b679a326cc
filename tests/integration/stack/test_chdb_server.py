"""The chDB HTTP front must look like a ClickHouse server to clickhouse-connect."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator

import pytest

import chdb  # noqa: F401,E402  (the server under test needs it)
import clickhouse_connect  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from clickhouse_connect.driver.exceptions import DatabaseError  # noqa: E402

from shadow_optic.stack.chdb_server import ChdbHttpServer  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
TS = dt.datetime(2024, 5, 6, 7, 8, 9, 123000)
DDL = """
CREATE TABLE IF NOT EXISTS {name} (
    id UInt64,
    ts DateTime64(3),
    score Float64,
    text String,
    maybe Nullable(Int32),
    model LowCardinality(String),
    tags Map(String, Float64),
    ver UInt64
) ENGINE = ReplacingMergeTree(ver) ORDER BY id
"""
COLUMNS = ["id", "ts", "score", "text", "maybe", "model", "tags", "ver"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbHttpServer]:
    # chDB allows one data directory per process: every in-process test shares this one.
    srv = ChdbHttpServer(tmp_path_factory.mktemp("chdb_front"), port=0)
    srv.start_in_thread()
    yield srv
    srv.close()


@pytest.fixture()
def client(server: ChdbHttpServer):
    c = clickhouse_connect.get_client(host="127.0.0.1", port=server.port)
    yield c
    c.close()


def _arrow_rows(first_id: int) -> "pa.Table":
    return pa.table(
        {
            "id": pa.array([first_id, first_id + 1], pa.uint64()),
            "ts": pa.array([TS, TS + dt.timedelta(milliseconds=1)], pa.timestamp("ms")),
            "score": pa.array([0.25, -1e300], pa.float64()),
            "text": ["ünï ✓", ""],
            "maybe": pa.array([None, -7], pa.int32()),
            "model": ["claude", "gpt"],
            "tags": pa.array([[("p", 0.5)], []], pa.map_(pa.string(), pa.float64())),
            "ver": pa.array([1, 1], pa.uint64()),
        }
    )


def test_ping_and_root(server: ChdbHttpServer, client) -> None:
    base = f"http://127.0.0.1:{server.port}"
    assert urllib.request.urlopen(f"{base}/ping", timeout=5).read() == b"Ok.\n"
    assert urllib.request.urlopen(f"{base}/", timeout=5).read() == b"Ok.\n"
    assert urllib.request.urlopen(f"{base}/?query=SELECT%2040%2B2", timeout=5).read() == b"42\n"
    assert client.ping() is True
    assert client.server_version and client.server_version[0].isdigit()


def test_command_ddl_and_select(client) -> None:
    client.command(DDL.format(name="cmd_t"))
    assert client.command("SELECT 1") == 1
    assert client.command("EXISTS TABLE cmd_t") == 1
    engine = client.command("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'cmd_t'")
    assert engine == "ReplacingMergeTree"
    # an empty result set is still a result ("") while DDL is not
    assert client.command("SELECT 1 WHERE 0") == ""


def test_insert_rows_and_read_back(client) -> None:
    client.command(DDL.format(name="rows_t"))
    rows = [
        [1, TS, 1.5, "héllo ✓ 日本", None, "claude", {"x": 1.25, "y": -2.0}, 1],
        [2, TS, float("inf"), "", 7, "gpt", {}, 1],
    ]
    summary = client.insert("rows_t", rows, column_names=COLUMNS)  # lz4-compressed Native body by default
    assert summary.written_rows == 2
    got = client.query("SELECT * FROM rows_t ORDER BY id").result_rows
    assert got == [tuple(r) for r in rows]


def test_insert_arrow_and_df_replacing(client) -> None:
    client.command(DDL.format(name="mix_t"))
    assert client.insert_arrow("mix_t", _arrow_rows(10)).written_rows == 2
    df = pd.DataFrame(
        {
            "id": [11, 12],
            "ts": [TS, TS],
            "score": [9.75, 3.0],
            "text": ["replaced ✓", "z"],
            "maybe": [None, 3],
            "model": ["claude", "mistral"],
            "tags": [{"q": 2.0}, {}],
            "ver": [2, 1],
        }
    )
    assert client.insert_df("mix_t", df).written_rows == 2

    final = client.query_df("SELECT * FROM mix_t FINAL ORDER BY id")
    assert final["id"].tolist() == [10, 11, 12]
    assert final["text"].tolist() == ["ünï ✓", "replaced ✓", "z"]  # ver 2 replaced id 11
    assert final["score"].tolist() == [0.25, 9.75, 3.0]
    assert pd.isna(final["maybe"].iloc[0]) and final["maybe"].iloc[2] == 3
    assert final["model"].tolist() == ["claude", "claude", "mistral"]
    assert pd.Timestamp(final["ts"].iloc[0]) == pd.Timestamp(TS)

    table = client.query_arrow("SELECT id, ts, text, maybe, model, tags FROM mix_t FINAL ORDER BY id")
    assert table.column("id").to_pylist() == [10, 11, 12]
    assert table.column("maybe").to_pylist() == [None, None, 3]
    assert table.column("tags").to_pylist()[0] == [("p", 0.5)]
    assert table.column("ts").to_pylist()[0].replace(tzinfo=None) == TS
    assert client.command("SELECT count() FROM mix_t") == 4  # unmerged duplicates still there without FINAL


def test_parameters(client) -> None:
    tricky = "it's a\ttab \\ back ✓"
    server_side = client.query(
        "SELECT {s:String} AS s, {n:UInt64} + 1 AS n, {arr:Array(String)} AS arr, {t:DateTime64(3)} AS t",
        parameters={"s": tricky, "n": 41, "arr": ["a", "b'"], "t": TS},
    ).result_rows
    assert server_side == [(tricky, 42, ["a", "b'"], TS)]
    client_side = client.query("SELECT %(s)s AS s, %(n)s AS n", parameters={"s": tricky, "n": 5}).result_rows
    assert client_side == [(tricky, 5)]
    assert client.command("SELECT {x:Int32} * 2", parameters={"x": -21}) == -42


def test_errors_carry_clickhouse_code(client) -> None:
    with pytest.raises(DatabaseError) as syntax:
        client.query("SELEC 1")
    assert syntax.value.code == 62
    assert "SYNTAX_ERROR" in str(syntax.value)
    with pytest.raises(DatabaseError) as missing:
        client.command("SELECT * FROM no_such_table_here")
    assert missing.value.code == 60
    # the server keeps serving after errors
    assert client.command("SELECT 2") == 2


def test_settings_do_not_leak_between_requests(client) -> None:
    assert client.query("SELECT getSetting('max_block_size')", settings={"max_block_size": 1234}).result_rows == [(1234,)]
    assert client.query("SELECT getSetting('max_block_size')").result_rows != [(1234,)]


def test_database_setting_per_client(server: ChdbHttpServer, client) -> None:
    client.command("CREATE DATABASE IF NOT EXISTS other_db")
    other = clickhouse_connect.get_client(host="127.0.0.1", port=server.port, database="other_db")
    try:
        other.command("CREATE TABLE IF NOT EXISTS only_here (a UInt8) ENGINE = MergeTree ORDER BY a")
        other.insert("only_here", [[5]])
        assert other.query("SELECT currentDatabase(), sum(a) FROM only_here").result_rows == [("other_db", 5)]
        assert client.command("SELECT currentDatabase()") == "default"
    finally:
        other.close()


def test_two_clients_at_once(server: ChdbHttpServer, client) -> None:
    client.command(DDL.format(name="conc_t"))
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            c = clickhouse_connect.get_client(host="127.0.0.1", port=server.port)
            for k in range(5):
                c.insert_arrow("conc_t", _arrow_rows(offset + 2 * k))
                assert c.command("SELECT 1") == 1
            c.close()
        except BaseException as ex:  # noqa: BLE001 - surfaced below
            errors.append(ex)

    threads = [threading.Thread(target=writer, args=(base,)) for base in (1000, 2000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert client.command("SELECT count(), uniqExact(id) FROM conc_t") == ["20", "20"]  # multi-column command() gives strings


def _start_cli(path: pathlib.Path) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "shadow_optic.stack.chdb_server", "--path", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("ready port="), line
    return proc, int(line.strip().split("=", 1)[1])


def _stop_cli(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_data_survives_restart_via_cli(tmp_path: pathlib.Path) -> None:
    # A separate process: this process already holds the fixture's chDB directory.
    data_dir = tmp_path / "restart"
    proc, port = _start_cli(data_dir)
    try:
        c = clickhouse_connect.get_client(host="127.0.0.1", port=port)
        c.command(DDL.format(name="keep_t"))
        c.insert_arrow("keep_t", _arrow_rows(1))
        c.close()
    finally:
        assert _stop_cli(proc) == 0  # SIGTERM is a clean exit

    proc, port = _start_cli(data_dir)
    try:
        c = clickhouse_connect.get_client(host="127.0.0.1", port=port)
        assert c.query("SELECT id, text, maybe FROM keep_t ORDER BY id").result_rows == [(1, "ünï ✓", None), (2, "", -7)]
        c.close()
    finally:
        assert _stop_cli(proc) == 0
