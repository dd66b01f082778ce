#!/usr/bin/env python3
"""A current ClickHouse engine behind ClickHouse's HTTP interface, for Lucarne's tests.

Debian ships clickhouse-server 18.16; no current server package is reachable where the
tests run, but PyPI's `chdb` embeds a current ClickHouse engine (chdb 4.4 / chdb-core
26.9) as a Python extension. chdb has no HTTP server, so this program serves the part
of ClickHouse's HTTP interface that the Rust `clickhouse` crate (0.14, validation off,
no compression) and Lucarne's test kit use, backed by one persistent chdb session:

    python3 chdb_http.py PORT --data DIR

(`crates/testkit/src/chdb.rs` starts it; `scripts/install-test-deps.sh` installs chdb.)

What a request may carry (as ClickHouse's HTTP handler reads it):
  * `GET /ping` (and `GET /` without a query) -> 200 "Ok.\\n" (readiness checks);
  * the query text in the `query` URL parameter and/or the body (POST; GET takes the
    `query` parameter only). With both, the body follows the parameter after a newline,
    as in ClickHouse; for `INSERT ... FORMAT F` what follows the format name is the data.
    The crate sends fetches and statements as the body, inserts as
    `?query=INSERT INTO t(cols) FORMAT RowBinary` with the rows as a chunked body;
  * `database`: the current database of the request (`default` without it);
  * `default_format`: the output format when the query has no FORMAT clause
    (TabSeparated without it); the crate asks for RowBinary when it fetches rows;
  * `param_NAME=VALUE`: values of `{NAME:Type}` query parameters;
  * any other parameter is a setting of the request (`SET name = 'value'` before the
    query, `SET name = DEFAULT` after it; an unknown one is an error, as in ClickHouse),
    except the HTTP-interface parameters in IGNORED (credentials, compression flags,
    ids), which change nothing here.

Answers: 200 with the output bytes exactly as the engine formats them; an error is 500
with `X-ClickHouse-Exception-Code` and the exception text (`Code: N. DB::Exception: ...`)
as the body, which is what ClickHouse's clients read and report.

Concurrency: connections are served by threads (so a client's idle keep-alive connection
never blocks another client), but every use of the engine holds one lock: a request's
`USE`, its settings, its query and the reset of its settings run as one unit, one
request at a time.

Differences from a real server that tests could notice: `USE` or `SET` statements sent
as queries persist in the shared session (ClickHouse gives each HTTP request without
`session_id` a fresh session); there are no users, quotas, compression, or clusters
(`remote()` and `Distributed` need a TCP server, which chdb has not).

The process exits by itself once its parent (the test process) is gone, so a killed test
leaves nothing running.
"""

import argparse
import http.server
import os
import re
import sys
import threading
import time
import urllib.parse

# Parameters of the HTTP interface itself, not settings: accepted and ignored. The crate
# sends `compress`/`decompress` only with compression on (Lucarne turns it off) and
# credentials as headers; the others are here so that other clients (curl) work too.
IGNORED = {
    "query",
    "database",
    "default_format",
    "user",
    "password",
    "quota_key",
    "query_id",
    "session_id",
    "session_timeout",
    "session_check",
    "compress",
    "decompress",
    "role",
    "buffer_size",
    "wait_end_of_query",
    "enable_http_compression",
    "http_zlib_compression_level",
    "send_progress_in_http_headers",
}

IDENTIFIER = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")

# `INSERT INTO <target> FORMAT <name>` at the start of a request's text, then its data.
# After the format name, spaces and at most one line break are skipped: RowBinary data
# may begin with any byte (a 0x0A or 0x20 included), so nothing more may be consumed.
INSERT_WITH_DATA = re.compile(
    rb"\A\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+([A-Za-z][A-Za-z0-9_]*)[ \t]*(?:\r?\n)?",
    re.IGNORECASE | re.DOTALL,
)

# The error code in an engine exception (`Code: 60. DB::Exception: ...`).
ERROR_CODE = re.compile(r"Code:\s*(\d+)")

# Content types of the text formats; every other format is sent as bytes.
CONTENT_TYPES = {
    "tabseparated": "text/tab-separated-values; charset=UTF-8",
    "tsv": "text/tab-separated-values; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8",
    "json": "application/json; charset=UTF-8",
    "jsoncompact": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8",
}


class QueryError(Exception):
    """An error to answer with: the engine's message, or what is wrong with the request."""


def sql_string(value):
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted_identifier(name):
    """A ClickHouse identifier in backquotes."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    """The chdb session and the lock that serialises its use."""

    def __init__(self, path):
        from chdb import session  # here, so that --help works without chdb

        self.session = session.Session(path)
        self.lock = threading.Lock()

    def version(self):
        return self.run("SELECT version()").bytes().decode().strip()

    def run(self, sql, fmt="TabSeparated", params=None):
        """One statement; the engine's exception text becomes a QueryError."""
        try:
            return self.session.query(sql, fmt, params=params or None)
        except Exception as e:  # chdb raises ChdbError (a RuntimeError) with the text
            raise QueryError(str(e)) from None

    def insert(self, target, fmt, data):
        """`<target> FORMAT <fmt>` with `data` (any bytes) as the rows."""
        try:
            inserter = self.session.send_insert(target, fmt)
        except Exception as e:
            raise QueryError(str(e)) from None
        try:
            if data:
                inserter.append(data)
            inserter.finish()
        except Exception as e:
            try:
                inserter.cancel()
            except Exception:
                pass  # the insert's own error is the one to report
            raise QueryError(str(e)) from None

    def request(self, database, settings, params, text, fmt):
        """Run one HTTP request's query (`text`: bytes); returns the output bytes."""
        with self.lock:
            self.run("USE " + quoted_identifier(database))
            applied = []
            try:
                for name, value in settings:
                    if not IDENTIFIER.match(name):
                        raise QueryError(
                            "Code: 115. DB::Exception: Unknown setting '%s'. (UNKNOWN_SETTING)"
                            % name
                        )
                    self.run("SET %s = %s" % (name, sql_string(value)))
                    applied.append(name)
                m = INSERT_WITH_DATA.match(text)
                if m and m.group(2).lower() != "values":
                    target = m.group(1).decode("utf-8", "replace")
                    self.insert(target, m.group(2).decode(), text[m.end():])
                    return b""
                try:
                    sql = text.decode("utf-8")
                except UnicodeDecodeError:
                    raise QueryError(
                        "Code: 36. DB::Exception: the query is not valid UTF-8. (BAD_ARGUMENTS)"
                    ) from None
                if not sql.strip():
                    raise QueryError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
                result = self.run(sql, fmt, params)
                return result.bytes() if result is not None else b""
            finally:
                for name in applied:
                    try:
                        self.run("SET %s = DEFAULT" % name)
                    except QueryError:
                        pass  # a setting without a default cannot have been set either


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1: keep-alive, as the crate's connection pool expects (every answer has a
    # Content-Length).
    protocol_version = "HTTP/1.1"
    server_version = "chdb-http"
    # Headers and body are written separately: without TCP_NODELAY the body would wait
    # for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    engine = None  # set by main()

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def reply(self, status, body, content_type="text/plain; charset=UTF-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The request body: by Content-Length, or chunk by chunk (chunked encoding)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline()
                if not line:
                    raise QueryError("Code: 33. DB::Exception: truncated chunked body.")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers (none expected) up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/ping":
            self.reply(200, b"Ok.\n")
            return
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if url.path == "/" and "query" not in query:
            self.reply(200, b"Ok.\n")
            return
        self.answer(url, b"")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            body = self.read_body()
        except (QueryError, ValueError) as e:
            self.error(str(e))
            self.close_connection = True
            return
        self.answer(url, body)

    def error(self, message):
        m = ERROR_CODE.search(message)
        code = m.group(1) if m else "1002"
        self.reply(
            500,
            (message.rstrip("\n") + "\n").encode("utf-8", "replace"),
            headers=[("X-ClickHouse-Exception-Code", code)],
        )

    def answer(self, url, body):
        if url.path not in ("/", ""):
            self.reply(404, b"There is no handle %s\n" % url.path.encode("utf-8", "replace"))
            return
        pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        values = dict(pairs)
        params = {k[len("param_"):]: v for k, v in pairs if k.startswith("param_")}
        settings = [
            (k, v) for k, v in pairs if k not in IGNORED and not k.startswith("param_")
        ]
        # The query parameter, then the body after a newline (ClickHouse's order).
        text = values.get("query", "").encode("utf-8")
        if text and body:
            text += b"\n"
        text += body
        fmt = values.get("default_format") or "TabSeparated"
        database = values.get("database") or "default"
        try:
            out = self.engine.request(database, settings, params, text, fmt)
        except QueryError as e:
            self.error(str(e))
            return
        self.reply(
            200,
            out,
            content_type=CONTENT_TYPES.get(fmt.lower(), "application/octet-stream"),
            headers=[("X-ClickHouse-Format", fmt), ("X-ClickHouse-Database", database)],
        )


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = False


def exit_with_parent(parent):
    """Exit once the process that started this one is gone (re-parented)."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int, help="port to listen on (127.0.0.1)")
    ap.add_argument("--data", required=True, help="directory of the chdb session (kept)")
    ap.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = ap.parse_args()

    # Times as a UTC server would show them (the test servers run with timezone UTC).
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.makedirs(args.data, exist_ok=True)
    Handler.engine = Engine(args.data)
    version = Handler.engine.version()

    # Bound only once the engine answers, so a successful /ping means ready.
    server = Server(("127.0.0.1", args.port), Handler)
    server.verbose = args.verbose
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    print("chdb_http: ClickHouse %s on 127.0.0.1:%d" % (version, args.port), file=sys.stderr)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
