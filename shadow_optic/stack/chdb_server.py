"""A small ClickHouse-HTTP-protocol front over one embedded chDB session.

chDB allows one process per data directory (and one directory per process), so the
process that owns the store serves it to the others (worker, CLI, demo) over the same
HTTP protocol a real ClickHouse server speaks. Any ``clickhouse_connect`` client works
against it unchanged: ``clickhouse_connect.get_client(host=..., port=...)``.

What is implemented (what clickhouse-connect uses):
  * ``GET /``, ``GET /ping`` -> ``Ok.``
  * ``GET|POST /?query=...`` and ``POST /`` with the SQL in the body; the query is the
    ``query`` URL parameter, a newline and the body, as in ClickHouse.
  * ``INSERT INTO t (cols) FORMAT X`` followed by data (in the body, after the statement,
    or the statement in ``query`` and the data as the body), ``Content-Encoding`` gzip,
    deflate, lz4, zstd, br, xz (the latter via the engine's own decompressors).
  * ``param_<name>`` server-side bindings, ``database``, ``default_format``, any other URL
    parameter as a ClickHouse setting (unknown ones are dropped), multipart/form-data
    queries.
  * errors: HTTP 500, ``X-ClickHouse-Exception-Code`` and the ClickHouse message as body.

Not implemented: sessions (every request shares the one chDB session, so ``SET`` or
temporary tables made by one client are seen by all), external data, response
compression (``Accept-Encoding`` is ignored: responses are identity-encoded), progress
headers, authentication (bind to loopback).

Over 400 lines on purpose: one protocol front (engine, handler, server) a reader checks against the
ClickHouse HTTP interface in one place; its parts are not used elsewhere.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import logging
import os
import pathlib
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ChdbHttpServer", "main"]

logger = logging.getLogger(__name__)

# URL parameters that steer the HTTP transport, not the engine: chDB rejects most of them
# as unknown settings, and the rest (compression, cancel-on-close) mean nothing here.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "quota_key",
        "wait_end_of_query",
        "buffer_size",
        "compress",
        "decompress",
        "enable_http_compression",
        "http_zlib_compression_level",
        "http_native_compression_disable_checksumming_on_decompress",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "client_protocol_version",
        "role",
        "user",
        "password",
        "add_http_cors_header",
    }
)

_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}

# `INSERT INTO <target> FORMAT <fmt>` then the data: ClickHouse's parser starts the data
# after the format name, blanks and at most one line break.
_INSERT_RE = re.compile(
    rb"\A\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<fmt>[A-Za-z][A-Za-z0-9_]*)[ \t\f]*(?:\r?\n)?",
    re.IGNORECASE | re.DOTALL,
)
# A target holding VALUES/SELECT means "FORMAT" was found inside inline data, not a clause.
_NOT_A_TARGET_RE = re.compile(rb"\b(?:VALUES|SELECT|WITH)\b|'", re.IGNORECASE)
_TRAILING_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*\Z", re.IGNORECASE)
_SETTING_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_CODE_RE = re.compile(r"Code: (\d+)\.")
_USE_RE = re.compile(r"\A\s*USE\s", re.IGNORECASE)
_RESULT_KEYWORDS_RE = re.compile(r"\A\s*\(*\s*(?:SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b", re.IGNORECASE)

_STDLIB_DECODERS = {
    "gzip": lambda data: zlib.decompress(data, 47),  # 32+15: gzip or zlib header
    "x-gzip": lambda data: zlib.decompress(data, 47),
}
# Encodings the engine decompresses itself (no third-party Python codec needed).
_ENGINE_ENCODINGS = {"lz4": "lz4", "zstd": "zstd", "br": "br", "xz": "xz", "bz2": "bz2", "snappy": "snappy"}



def _insert_buffer_dir() -> str | None:
    """Memory-backed /dev/shm when writable (checked when needed, not at import)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None

# Error codes from ClickHouse's ErrorCodes.cpp used for failures of the front itself.
_CODE_UNKNOWN_FORMAT = 73
_CODE_NOT_IMPLEMENTED = 48
_CODE_STD_EXCEPTION = 1001
_CODE_CANNOT_DECOMPRESS = 271


class ClickHouseError(Exception):
    """An error to report to the client with a ClickHouse exception code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class _Request:
    params: dict[str, str]
    body: bytes
    content_encoding: str | None
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class _Response:
    body: bytes
    result_format: str | None = None
    summary: dict[str, str] = field(default_factory=dict)


def _quote_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _error_from_engine(ex: BaseException) -> ClickHouseError:
    message = str(ex).strip()
    match = _CODE_RE.search(message)
    code = int(match.group(1)) if match else _CODE_STD_EXCEPTION
    if not match:
        message = f"Code: {code}. DB::Exception: {message} (STD_EXCEPTION)"
    return ClickHouseError(code, message)


class _Engine:
    """The one chDB session plus the session state (database, settings) the requests set.

    Every call happens under ``lock``: chDB serialises queries on a connection anyway, and
    the per-request USE/SET state must not interleave between requests.
    """

    def __init__(self, data_dir: pathlib.Path):
        from chdb.session import Session  # imported here: nothing heavy at module import

        self.lock = threading.Lock()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._session: Any = Session(str(data_dir))
        row = self._session.query("SELECT version(), timezone()", "TabSeparated").bytes().decode()
        self.version, self.timezone = row.rstrip("\n").split("\t")
        self._database: str | None = None  # unknown until the first USE
        self._applied: dict[str, str] = {}  # settings changed by SET for the current request
        self._rejected: set[str] = set()  # URL parameters chDB does not know: dropped

    def close(self) -> None:
        with self.lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    # -- state ----------------------------------------------------------------------------

    def _query(self, sql: str, fmt: str = "TabSeparated", params: dict[str, str] | None = None) -> Any:
        if self._session is None:
            raise ClickHouseError(_CODE_STD_EXCEPTION, "Code: 1001. DB::Exception: server is shutting down")
        try:
            return self._session.query(sql, fmt, params=params or {})
        except ClickHouseError:
            raise
        except Exception as ex:  # chdb raises ChdbError/RuntimeError with the engine message
            raise _error_from_engine(ex) from None

    def _use(self, database: str) -> None:
        if database != self._database:
            self._query(f"USE {_quote_identifier(database)}")
            self._database = database

    def _apply_settings(self, wanted: dict[str, str]) -> None:
        """Make the session's changed settings equal to ``wanted`` with as few SETs as possible.

        Clients send the same settings on every request, so after the first request this is
        usually no query at all.
        """
        for name in [n for n in self._applied if n not in wanted]:
            try:
                self._query(f"SET {name} = DEFAULT")
            finally:
                del self._applied[name]
        for name, value in wanted.items():
            if self._applied.get(name) == value or name in self._rejected:
                continue
            if not _SETTING_NAME_RE.match(name):
                raise ClickHouseError(115, f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)")
            try:
                self._query(f"SET {name} = {_quote_string(value)}")
            except ClickHouseError as ex:
                if ex.code == 115:  # UNKNOWN_SETTING: an HTTP-only knob chDB lacks
                    logger.info("dropping URL parameter %s unknown to chDB", name)
                    self._rejected.add(name)
                    continue
                raise
            self._applied[name] = value

    # -- execution ------------------------------------------------------------------------

    def execute(self, request: _Request) -> _Response:
        params = dict(request.params)
        params.update(request.form)
        bind = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items() if k not in _TRANSPORT_PARAMS and not k.startswith("param_")}
        query_param = params.get("query", "")
        with self.lock:
            self._use(params.get("database") or "default")
            self._apply_settings(settings)
            body = request.body
            if body and request.content_encoding:
                body = self._decode(body, request.content_encoding)
            if query_param:
                insert = _INSERT_RE.match(query_param.encode())
                if insert and insert.end() >= len(query_param.encode().rstrip()) and _is_target(insert.group("target")):
                    return self._insert(insert.group("target").decode(), insert.group("fmt").decode(), body)
                sql_bytes = query_param.encode() + (b"\n" + body if body else b"")
            else:
                sql_bytes = body
            insert = _INSERT_RE.match(sql_bytes[:65536])
            if insert and _is_target(insert.group("target")):
                return self._insert(insert.group("target").decode(), insert.group("fmt").decode(), sql_bytes[insert.end() :])
            sql = sql_bytes.decode("utf-8", errors="surrogateescape").strip()
            if not sql:
                raise ClickHouseError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
            return self._select(sql, bind, params.get("default_format") or "TabSeparated")

    def _decode(self, body: bytes, encoding: str) -> bytes:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity", "none"):
            return body
        try:
            if encoding in _STDLIB_DECODERS:
                return _STDLIB_DECODERS[encoding](body)
            if encoding == "deflate":
                try:
                    return zlib.decompress(body)
                except zlib.error:  # some clients send raw DEFLATE without the zlib header
                    return zlib.decompress(body, -15)
        except (zlib.error, OSError, EOFError) as ex:
            raise ClickHouseError(_CODE_CANNOT_DECOMPRESS, f"Code: 271. DB::Exception: {ex} (CANNOT_DECOMPRESS)") from None
        method = _ENGINE_ENCODINGS.get(encoding)
        if method is None:
            raise ClickHouseError(
                _CODE_NOT_IMPLEMENTED, f"Code: 48. DB::Exception: Unknown Content-Encoding {encoding}. (NOT_IMPLEMENTED)"
            )
        # No stdlib codec for these: let the engine decompress a spilled copy (tmpfs when present).
        fd, path = tempfile.mkstemp(prefix="chdb-front-", dir=_insert_buffer_dir())
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            sql = f"SELECT raw FROM file({_quote_string(path)}, 'RawBLOB', 'raw String', {_quote_string(method)}) FORMAT RawBLOB"
            return bytes(self._query(sql).bytes())
        finally:
            os.unlink(path)

    def _insert(self, target: str, fmt: str, data: bytes) -> _Response:
        started = time.perf_counter()
        # send_insert streams the bytes straight into the engine's input format: no temp file.
        try:
            inserter = self._session.send_insert(f"INSERT INTO {target}", fmt)
        except Exception as ex:
            raise _error_from_engine(ex) from None
        try:
            if data:
                inserter.append(data)
            result = inserter.finish()
        except Exception as ex:
            try:
                inserter.cancel()
            except Exception:  # already finished or failed: nothing left to undo
                pass
            raise _error_from_engine(ex.__cause__ or ex) from None
        elapsed_ns = int((time.perf_counter() - started) * 1e9)
        written = str(result.rows_written)
        summary = {
            "read_rows": written,
            "read_bytes": str(result.bytes_written),
            "written_rows": written,
            "written_bytes": str(result.bytes_written),
            "total_rows_to_read": "0",
            "result_rows": written,
            "result_bytes": str(result.bytes_written),
            "elapsed_ns": str(elapsed_ns),
        }
        return _Response(b"", None, summary)

    def _select(self, sql: str, bind: dict[str, str], default_format: str) -> _Response:
        if _USE_RE.match(sql):
            self._database = None  # a client's USE changes the shared session: re-apply next time
        trailing = _TRAILING_FORMAT_RE.search(sql[-200:])
        if trailing:
            # The FORMAT clause in the SQL wins over chDB's format argument.
            result = self._query(sql, "TabSeparated", bind)
            return _Response(bytes(result.bytes() or b""), trailing.group(1), self._summary(result))
        if default_format in ("TabSeparated", "TSV"):
            # A result set has at least its names line; DDL has no output at all. That tells
            # whether to report X-ClickHouse-Format (clickhouse-connect's command() uses it).
            result = self._query(sql, "TabSeparatedWithNames", bind)
            raw = bytes(result.bytes() or b"")
            if not raw:
                return _Response(b"", None, self._summary(result))
            newline = raw.find(b"\n")
            return _Response(raw[newline + 1 :] if newline >= 0 else b"", "TabSeparated", self._summary(result))
        result = self._query(sql, default_format, bind)
        raw = bytes(result.bytes() or b"")
        fmt = default_format if raw or _RESULT_KEYWORDS_RE.match(sql) else None
        return _Response(raw, fmt, self._summary(result))

    @staticmethod
    def _summary(result: Any) -> dict[str, str]:
        try:
            return {
                "read_rows": str(result.rows_read()),
                "read_bytes": str(result.bytes_read()),
                "written_rows": "0",
                "written_bytes": "0",
                "total_rows_to_read": str(result.rows_read()),
                "result_rows": "0",
                "result_bytes": "0",
                "elapsed_ns": str(int(result.elapsed() * 1e9)),
            }
        except Exception:  # statistics are a courtesy; never fail a query over them
            return {}


def _is_target(target: bytes) -> bool:
    return not _NOT_A_TARGET_RE.search(target)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools its connections
    server_version = "ClickHouse-chDB-front"
    server: "_HttpServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._send(200, b"", {"Content-Type": "text/plain; charset=UTF-8"}, head_only=True)

    # -- plumbing -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after each chunk
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str], head_only: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front")
        self.end_headers()
        if not head_only and body:
            self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._read_body() if self.command == "POST" else b""
        path = url.path.rstrip("/")
        if path in ("/ping", "/replicas_status") or (path == "" and self.command == "GET" and "query" not in params):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        if path != "":
            self._send(404, b"There is no handle " + url.path.encode() + b"\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        engine = self.server.engine
        query_id = params.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": engine.timezone}
        try:
            request = self._build_request(params, body)
            response = engine.execute(request)
        except ClickHouseError as ex:
            self._send_error(ex, headers)
            return
        except Exception as ex:  # a bug in the front must still answer like a server, not hang the client
            logger.exception("unexpected failure serving a query")
            self._send_error(ClickHouseError(_CODE_STD_EXCEPTION, f"Code: 1001. DB::Exception: {ex!r}. (STD_EXCEPTION)"), headers)
            return
        if response.result_format:
            headers["X-ClickHouse-Format"] = response.result_format
            headers["Content-Type"] = _CONTENT_TYPES.get(response.result_format, "application/octet-stream")
        else:
            headers["Content-Type"] = "text/plain; charset=UTF-8"
        headers["X-ClickHouse-Summary"] = json.dumps(response.summary, separators=(",", ":"))
        self._send(200, response.body, headers)

    def _build_request(self, params: dict[str, str], body: bytes) -> _Request:
        content_type = self.headers.get("Content-Type", "")
        encoding = self.headers.get("Content-Encoding")
        form: dict[str, str] = {}
        if content_type.lower().startswith("multipart/form-data"):
            # clickhouse-connect form-encodes the query and params when they are large/binary.
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    raise ClickHouseError(
                        _CODE_NOT_IMPLEMENTED, "Code: 48. DB::Exception: external data is not supported by this server. (NOT_IMPLEMENTED)"
                    )
                if name:
                    payload = part.get_payload(decode=True) or b""
                    form[str(name)] = payload.decode("utf-8", errors="surrogateescape")
            body, encoding = b"", None
        return _Request(params=params, body=body, content_encoding=encoding, form=form)

    def _send_error(self, ex: ClickHouseError, headers: dict[str, str]) -> None:
        message = str(ex)
        engine = self.server.engine
        if "(version " not in message:
            message = f"{message} (version {engine.version})"
        headers = dict(headers)
        headers["X-ClickHouse-Exception-Code"] = str(ex.code)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        self._send(500, (message + "\n").encode("utf-8", errors="replace"), headers)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    engine: _Engine

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is routine (timeouts, Ctrl-C): no traceback spam.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class ChdbHttpServer:
    """Owns a chDB session on ``data_dir`` and a ClickHouse-protocol HTTP server on (host, port)."""

    def __init__(self, data_dir: pathlib.Path, host: str = "127.0.0.1", port: int = 0):
        self._engine = _Engine(pathlib.Path(data_dir))
        try:
            self._httpd = _HttpServer((host, port), _Handler)
        except BaseException:
            self._engine.close()
            raise
        self._httpd.engine = self._engine
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()

    def start_in_thread(self) -> None:
        # Set before the thread runs so an immediate close() still stops the loop it starts.
        self._serving.set()
        self._thread = threading.Thread(target=self.serve_forever, name=f"chdb-http-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._serving.is_set():
            self._httpd.shutdown()  # waits for the serve loop; only valid while it runs
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # The lock makes this wait for an in-flight query before the engine goes away.
        self._engine.close()

    def __enter__(self) -> "ChdbHttpServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shadow_optic.stack.chdb_server", description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, type=pathlib.Path, help="chDB data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: let the OS choose (printed on the ready line)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    server = ChdbHttpServer(args.path, args.host, args.port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    # serve in a thread so the main thread can take SIGTERM/SIGINT and shut down cleanly
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start_in_thread()
        print(f"ready port={server.port}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
