"""PostgreSQL through its own client tools (pg_dump, pg_dumpall, pg_restore, psql): versions, a consistent
snapshot for the dump and its row counts, and the checks a restore makes before it writes anything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from archangel_helm.backup.errors import BackupConfigError, BackupError

_END = "__ARCHANGEL_END__"
# Exact row counts of every user table, in one statement, inside the dump's snapshot.
ROW_COUNTS_SQL = (
    "SELECT table_schema || '.' || table_name || '|' || (xpath('/row/c/text()', query_to_xml("
    "format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text "
    "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
    "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;"
)
# Every object a user (or a restore) created in a database: OIDs from 16384 (FirstNormalObjectId) on are never
# the system's, and objects that belong to an extension are covered by the extension. One line per object:
# "kind|DROP keyword|name".
_NOT_EXTENSION_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass "
    "AND d.objid = o.oid AND d.deptype = 'e')"
)
USER_OBJECTS_SQL = " UNION ALL ".join(
    [
        "SELECT 'schema|SCHEMA|' || quote_ident(nspname) FROM pg_catalog.pg_namespace o WHERE o.oid >= 16384 AND "
        + _NOT_EXTENSION_MEMBER.format(catalog="pg_namespace"),
        "SELECT CASE relkind WHEN 'v' THEN 'view|VIEW|' WHEN 'm' THEN 'materialized view|MATERIALIZED VIEW|' "
        "WHEN 'S' THEN 'sequence|SEQUENCE|' WHEN 'f' THEN 'foreign table|FOREIGN TABLE|' WHEN 'c' THEN 'type|TYPE|' "
        "ELSE 'table|TABLE|' END || o.oid::regclass::text FROM pg_catalog.pg_class o "
        "WHERE o.oid >= 16384 AND relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') "
        # sequences of serial and identity columns go with their table
        "AND NOT (relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
        "WHERE d.classid = 'pg_class'::regclass AND d.objid = o.oid AND d.deptype IN ('a', 'i'))) AND "
        + _NOT_EXTENSION_MEMBER.format(catalog="pg_class"),
        "SELECT 'function|ROUTINE|' || o.oid::regprocedure::text FROM pg_catalog.pg_proc o WHERE o.oid >= 16384 AND "
        + _NOT_EXTENSION_MEMBER.format(catalog="pg_proc"),
        "SELECT CASE typtype WHEN 'd' THEN 'domain|DOMAIN|' ELSE 'type|TYPE|' END || o.oid::regtype::text "
        "FROM pg_catalog.pg_type o WHERE o.oid >= 16384 AND typtype IN ('b', 'd', 'e', 'r') AND typcategory <> 'A' AND "
        + _NOT_EXTENSION_MEMBER.format(catalog="pg_type"),
        "SELECT 'extension|EXTENSION|' || quote_ident(extname) FROM pg_catalog.pg_extension o WHERE o.oid >= 16384",
        "SELECT 'collation|COLLATION|' || o.oid::regcollation::text FROM pg_catalog.pg_collation o "
        "WHERE o.oid >= 16384 AND " + _NOT_EXTENSION_MEMBER.format(catalog="pg_collation"),
        "SELECT 'text search configuration|TEXT SEARCH CONFIGURATION|' || o.oid::regconfig::text "
        "FROM pg_catalog.pg_ts_config o WHERE o.oid >= 16384 AND "
        + _NOT_EXTENSION_MEMBER.format(catalog="pg_ts_config"),
        "SELECT 'server|SERVER|' || quote_ident(srvname) FROM pg_catalog.pg_foreign_server o WHERE o.oid >= 16384",
        "SELECT 'publication|PUBLICATION|' || quote_ident(pubname) FROM pg_catalog.pg_publication o "
        "WHERE o.oid >= 16384",
        "SELECT 'event trigger|EVENT TRIGGER|' || quote_ident(evtname) FROM pg_catalog.pg_event_trigger o "
        "WHERE o.oid >= 16384",
    ]
)
# pg_dump's own, and a restore's: tables are dropped before the sequences they own, schemas before their objects.
_DROP_ORDER = ("EVENT TRIGGER", "PUBLICATION", "SCHEMA", "EXTENSION", "SERVER", "VIEW", "MATERIALIZED VIEW")


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    database: str
    password_file: Path | None = None
    sslmode: str | None = None

    def env(self, database: str | None = None) -> dict[str, str]:
        """The environment of pg_dump, pg_restore and psql: libpq's own variables pass through (PGPASSWORD,
        PGPASSFILE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGOPTIONS, ...), the options set here override them."""
        env = dict(os.environ)
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGDATABASE=database or self.database)
        env.setdefault("PGCONNECT_TIMEOUT", "15")
        env.setdefault("PGAPPNAME", "archangel-backup")
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        if self.password_file is not None:
            try:
                env["PGPASSWORD"] = self.password_file.read_text().rstrip("\n")
            except OSError as error:
                raise BackupConfigError(f"database password file {self.password_file}: {error.strerror}") from error
        return env


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupConfigError(f"{name} not found on PATH; install the PostgreSQL client (postgresql-client)")
    return found


def tool_version(name: str) -> str:
    out = subprocess.run([tool(name), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+(?:\.\d+)?)", out)
    return match[1] if match else out.strip()


def psql(connection: Connection, sql: str, database: str | None = None) -> str:
    result = subprocess.run(
        [tool("psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        env=connection.env(database),
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(
            f"psql on {connection.host}:{connection.port}/{database or connection.database} failed: "
            f"{result.stderr.strip()}"
        )
    return result.stdout.strip()


def server_version(connection: Connection) -> str:
    return psql(connection, "SHOW server_version;").split(maxsplit=1)[0]


def major(version: str) -> int:
    return int(version.split(".", maxsplit=1)[0])


def check_client_not_older(connection: Connection, client: str = "pg_dump") -> tuple[str, str]:
    """pg_dump must be at least the server's major version, or the dump may be wrong or refused."""
    server, ours = server_version(connection), tool_version(client)
    if major(ours) < major(server):
        raise BackupConfigError(f"{client} {ours} is older than the server ({server}); use a client >= {major(server)}")
    return server, ours


def _user_objects(connection: Connection, database: str) -> list[tuple[str, str, str]]:
    lines = psql(connection, USER_OBJECTS_SQL + ";", database).splitlines()
    return sorted(tuple(line.split("|", 2)) for line in lines if line.count("|") >= 2)  # type: ignore[misc]


def user_objects(connection: Connection, database: str) -> list[str]:
    """The user objects in `database` ("table public.agents", "schema audit", ...): empty for a new database."""
    return [f"{kind} {name}" for kind, _, name in _user_objects(connection, database)]


def empty_database(connection: Connection, database: str) -> list[str]:
    """Drop every user object (CASCADE), for a database that held none before a restore failed in it.
    Returns what could not be dropped."""
    for _ in range(3):  # a drop can take others with it (CASCADE): list again until nothing is left
        objects = _user_objects(connection, database)
        if not objects:
            return []
        order = {keyword: i for i, keyword in enumerate(_DROP_ORDER)}
        for _kind, keyword, name in sorted(objects, key=lambda o: order.get(o[1], len(order))):
            try:
                psql(connection, f"DROP {keyword} IF EXISTS {name} CASCADE;", database)
            except BackupError:
                continue  # gone with an earlier CASCADE, or owned by another: listed again below
    return user_objects(connection, database)


def database_exists(connection: Connection, database: str) -> bool:
    return psql(connection, f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(database)};", "postgres") == "1"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_row_counts(output: str) -> dict[str, int]:
    counts = {}
    for line in output.splitlines():
        if "|" in line:
            table, count = line.rsplit("|", 1)
            counts[table] = int(count)
    return counts


def row_counts(connection: Connection, database: str) -> dict[str, int]:
    return parse_row_counts(psql(connection, ROW_COUNTS_SQL, database))


class SnapshotSession:
    """An open REPEATABLE READ transaction whose snapshot pg_dump shares (`pg_dump --snapshot`), so the row
    counts recorded in the manifest are exactly what the dump contains, even while the application writes."""

    def __init__(self, connection: Connection) -> None:
        self._process = subprocess.Popen(
            [tool("psql"), "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=connection.env(),
        )

    def __enter__(self) -> SnapshotSession:
        self.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;")
        return self

    def run(self, sql: str) -> str:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(f"{sql}\n\\echo {_END}\n")
        self._process.stdin.flush()
        lines: list[str] = []
        for line in self._process.stdout:
            if line.rstrip("\n") == _END:
                return "\n".join(lines)
            lines.append(line.rstrip("\n"))
        error = self._process.stderr.read() if self._process.stderr else ""
        raise BackupError(f"psql session ended: {error.strip() or 'no output'}")

    def export_snapshot(self) -> str:
        return self.run("SELECT pg_export_snapshot();").strip()

    def row_counts(self) -> dict[str, int]:
        return parse_row_counts(self.run(ROW_COUNTS_SQL))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process.stdin:
            try:
                self._process.stdin.write("COMMIT;\n\\q\n")
                self._process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
