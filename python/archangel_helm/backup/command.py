"""`archangel-helm backup ...`: the commands the backup CronJobs run and operators use for disaster recovery.

Every setting has a flag and an environment variable (the chart sets the variables); keys only come from files
or the environment; every variable a command reads is listed in its --help (ENVIRONMENT) and in
docs/DISASTER_RECOVERY.md. Exit codes: 0 done, 1 failed, 2 bad configuration, 3 integrity check failed,
4 refused, 5 not found, 128 + N stopped by signal N (143 for SIGTERM) after removing decrypted data.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archangel_helm.backup import database, metrics, vectorstore
from archangel_helm.backup.catalog import PRUNE_RULES, Catalog, check_target, plan_prune
from archangel_helm.backup.codec import DEFAULT_ALGORITHM, codec
from archangel_helm.backup.errors import BackupConfigError, BackupError, TerminatedError
from archangel_helm.backup.keys import load_keys
from archangel_helm.backup.postgres import Connection
from archangel_helm.backup.qdrant import QdrantClient
from archangel_helm.backup.restore_request import Claim, RestoreRequests
from archangel_helm.backup.storage import ObjectStore, StoreConfig
from archangel_helm.core.logsetup import logger
from archangel_helm.hooks.kube import core_v1_api, current_namespace


def _log() -> logging.Logger:
    return logger("archangel.backup")


# Every environment variable the backup commands read, by group; each command's --help lists its groups, and
# docs/DISASTER_RECOVERY.md lists them all (a test keeps the three in step with the code).
ENVIRONMENT: dict[str, dict[str, str]] = {
    "bucket": {
        "ARCHANGEL_BACKUP_BUCKET": "S3 bucket (--bucket)",
        "ARCHANGEL_BACKUP_PREFIX": "key prefix (--prefix, default archangel)",
        "ARCHANGEL_BACKUP_ENDPOINT_URL": "S3-compatible endpoint, e.g. MinIO (--endpoint-url)",
        "ARCHANGEL_BACKUP_SSE": "server-side encryption AES256 or aws:kms (--sse)",
        "ARCHANGEL_BACKUP_KMS_KEY_ID": "KMS key for aws:kms (--kms-key-id)",
        "ARCHANGEL_S3_ACCESS_KEY_FILE": "file holding a static access key (--s3-access-key-file)",
        "ARCHANGEL_S3_SECRET_KEY_FILE": "file holding its secret key (--s3-secret-key-file)",
        "AWS_REGION": "region (--region); with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
        "AWS_PROFILE, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and AWS_CA_BUNDLE read by boto3's own chain",
    },
    "keys": {
        "ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE": "encryption key file (--encryption-key-file)",
        "ARCHANGEL_BACKUP_MAC_KEY_FILE": "MAC key file (--mac-key-file)",
        "ARCHANGEL_BACKUP_ENCRYPTION_KEY": "the encryption key itself, when no file is given",
        "ARCHANGEL_BACKUP_MAC_KEY": "the MAC key itself, when no file is given",
    },
    "postgresql": {
        "PGHOST": "server (--pg-host, default 127.0.0.1)",
        "PGPORT": "port (--pg-port, default 5432)",
        "PGUSER": "user (--pg-user, default postgres)",
        "PGDATABASE": "database (--pg-database, default archangel)",
        "ARCHANGEL_PG_PASSWORD_FILE": "file holding the password (--pg-password-file); overrides PGPASSWORD",
        "PGSSLMODE": "TLS mode (--pg-sslmode)",
        "PGPASSWORD": "password, when no password file is given (libpq)",
        "PGPASSFILE": "a .pgpass file (libpq)",
        "PGSSLROOTCERT": "CA certificate for verify-ca / verify-full (libpq); also PGSSLCERT, PGSSLKEY, PGSSLCRL",
        "PGOPTIONS": "and every other libpq variable (PGCONNECT_TIMEOUT, default 15; PGAPPNAME, default "
        "archangel-backup; PGSERVICE, ...) reach pg_dump, pg_restore and psql unchanged",
    },
    "qdrant": {
        "QDRANT_URL": "Qdrant's URL (--qdrant-url, default http://127.0.0.1:6333)",
        "QDRANT_API_KEY_FILE": "file holding Qdrant's API key (--qdrant-api-key-file)",
        "QDRANT_CA_CERT_FILE": "CA certificate of Qdrant's https (--qdrant-ca-file)",
    },
    "reporting": {
        "ARCHANGEL_PUSHGATEWAY_URL": "Pushgateway for the run's metrics (--pushgateway)",
        "ARCHANGEL_BACKUP_COMPRESSION_LEVEL": "zstd level of new backups, 1-19 (--compression-level, default 3)",
    },
    "restore": {
        "ARCHANGEL_RESTORE_REQUEST": "restore request to claim first (--once)",
        "POD_NAMESPACE": "namespace of the request's ConfigMap (--once; the chart sets it)",
        "HOSTNAME": "recorded in the request as the pod that ran it",
        "TMPDIR": "scratch space: a database restore keeps only the archive's table of contents there, a vector "
        "store restore the decrypted snapshot (removed on every exit, signals too)",
    },
    "scratch": {
        "TMPDIR": "scratch space: a database verify keeps only the archive's table of contents there, a vector "
        "store verify the decrypted snapshot (removed on every exit, signals too)",
    },
    "snapshots": {
        "ARCHANGEL_VOLUME_SNAPSHOT_CLASS": "VolumeSnapshotClass (--snapshot-class)",
        "ARCHANGEL_PUSHGATEWAY_URL": "Pushgateway for the run's metrics (--pushgateway)",
        "POD_NAMESPACE": "namespace of the claims (--namespace)",
        "KUBECONFIG": "outside a cluster: the kubeconfig to use",
    },
}
COMMON_GROUPS = ("bucket", "keys", "postgresql", "qdrant", "reporting")


def environment_epilog(*groups: str) -> str:
    lines = ["environment (each read only when its option is not given):"]
    seen: set[str] = set()
    for group in groups:
        for name, meaning in ENVIRONMENT[group].items():
            if name not in seen:
                seen.add(name)
                lines.append(f"  {name:38} {meaning}")
    return "\n".join(lines)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _terminated_by(error: BaseException) -> TerminatedError | None:
    """The TerminatedError an exception was raised while handling, if any (its __context__ chain)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, TerminatedError):
            return current
        seen.add(id(current))
        current = current.__context__
    return None


def stop_on_signals(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn SIGTERM (what Kubernetes sends a Job's pod), SIGINT and SIGHUP into an exception, so every `finally`
    and `with` on the way out runs: decrypted files are deleted, child processes killed, this run's partial
    uploads removed. Further signals are ignored while that cleanup runs (Kubernetes' SIGKILL still ends it)."""

    def run(args: argparse.Namespace) -> int:
        if threading.current_thread() is not threading.main_thread():
            return command(args)  # only the main thread may set handlers (and receives signals)

        def stop(number: int, _frame: object) -> None:
            for each in _STOP_SIGNALS:
                signal.signal(each, signal.SIG_IGN)
            raise TerminatedError(number, signal.Signals(number).name)

        previous = {each: signal.signal(each, stop) for each in _STOP_SIGNALS}
        try:
            return command(args)
        except Exception as error:
            # The signal's exception can land inside library code that then fails on its own way out (a
            # Condition wait in queue.put re-acquiring its lock: "release unlocked lock"); the cleanup ran all
            # the same, and the run was stopped by the signal: say so, with its exit code.
            stopped = _terminated_by(error)
            if stopped is None:
                raise
            raise stopped from None
        finally:
            for each, handler in previous.items():
                signal.signal(each, handler)

    return run


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    store = parser.add_argument_group("backup bucket")
    store.add_argument("--bucket", default=_env("ARCHANGEL_BACKUP_BUCKET"), help="S3 bucket ($ARCHANGEL_BACKUP_BUCKET)")
    store.add_argument("--prefix", default=_env("ARCHANGEL_BACKUP_PREFIX", "archangel"), help="key prefix")
    store.add_argument("--region", default=_env("AWS_REGION"))
    store.add_argument("--endpoint-url", default=_env("ARCHANGEL_BACKUP_ENDPOINT_URL"), help="S3-compatible endpoint")
    store.add_argument("--sse", default=_env("ARCHANGEL_BACKUP_SSE"), help="server-side encryption: AES256 or aws:kms")
    store.add_argument("--kms-key-id", default=_env("ARCHANGEL_BACKUP_KMS_KEY_ID"))
    store.add_argument("--s3-access-key-file", default=_env("ARCHANGEL_S3_ACCESS_KEY_FILE"))
    store.add_argument("--s3-secret-key-file", default=_env("ARCHANGEL_S3_SECRET_KEY_FILE"))
    keys = parser.add_argument_group("keys (files; or $ARCHANGEL_BACKUP_ENCRYPTION_KEY / $ARCHANGEL_BACKUP_MAC_KEY)")
    keys.add_argument("--encryption-key-file", default=_env("ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE"))
    keys.add_argument("--mac-key-file", default=_env("ARCHANGEL_BACKUP_MAC_KEY_FILE"))
    pg = parser.add_argument_group("PostgreSQL (libpq variables are the defaults)")
    pg.add_argument("--pg-host", default=_env("PGHOST", "127.0.0.1"))
    pg.add_argument("--pg-port", type=_whole_number("PGPORT"), default=_env("PGPORT", "5432") or "5432")
    pg.add_argument("--pg-user", default=_env("PGUSER", "postgres"))
    pg.add_argument("--pg-database", default=_env("PGDATABASE", "archangel"))
    pg.add_argument("--pg-password-file", default=_env("ARCHANGEL_PG_PASSWORD_FILE"))
    pg.add_argument("--pg-sslmode", default=_env("PGSSLMODE"))
    qd = parser.add_argument_group("Qdrant")
    qd.add_argument("--qdrant-url", default=_env("QDRANT_URL", "http://127.0.0.1:6333"))
    qd.add_argument("--qdrant-api-key-file", default=_env("QDRANT_API_KEY_FILE"))
    qd.add_argument(
        "--qdrant-ca-file",
        default=_env("QDRANT_CA_CERT_FILE"),
        help="CA certificate that signed Qdrant's (https); default: the system's CAs",
    )
    out = parser.add_argument_group("reporting")
    out.add_argument("--pushgateway", default=_env("ARCHANGEL_PUSHGATEWAY_URL"), help="Pushgateway URL for push-add")
    out.add_argument(
        "--compression-level",
        type=_whole_number("ARCHANGEL_BACKUP_COMPRESSION_LEVEL"),
        default=_env("ARCHANGEL_BACKUP_COMPRESSION_LEVEL", "3") or "3",
        help="zstd level of new backups, 1 (fastest) to 19 (smallest)",
    )


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: use a whole number >= {minimum}")
        return value

    return parse


def _whole_number(variable: str) -> Callable[[str], int]:
    """argparse type for an option whose default comes from an environment variable: the error names both.

    The default stays a string, so argparse converts (and refuses) it only when the option is used."""

    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (the option, or ${variable})") from None

    return parse


def catalog_from(args: argparse.Namespace) -> Catalog:
    # Keys first: a missing key must stop the run before any connection is made.
    keys = load_keys(_path(args.encryption_key_file), _path(args.mac_key_file))
    codec(DEFAULT_ALGORITHM).check_level(args.compression_level)
    store = ObjectStore(
        StoreConfig(
            args.bucket or "",
            args.prefix,
            args.region,
            args.endpoint_url,
            args.sse or None,
            args.kms_key_id,
            access_key_file=_path(args.s3_access_key_file),
            secret_key_file=_path(args.s3_secret_key_file),
        )
    )
    return Catalog(store, keys, compression_level=args.compression_level, log=say)


def say(line: str) -> None:
    """Progress lines, flushed at once: `kubectl logs -f` on a restore must show where it is, not a buffer."""
    _log().info(line)


def connection_from(args: argparse.Namespace) -> Connection:
    return Connection(
        args.pg_host, args.pg_port, args.pg_user, args.pg_database, _path(args.pg_password_file), args.pg_sslmode
    )


def qdrant_from(args: argparse.Namespace) -> QdrantClient:
    key = None
    if args.qdrant_api_key_file:
        try:
            key = Path(args.qdrant_api_key_file).read_text().strip()
        except OSError as error:
            raise BackupConfigError(f"Qdrant API key file {args.qdrant_api_key_file}: {error.strerror}") from error
    ca_file = args.qdrant_ca_file or None
    if ca_file:
        if not args.qdrant_url.startswith("https://"):
            raise BackupConfigError(
                f"--qdrant-ca-file is set but --qdrant-url {args.qdrant_url} is not https: the CA would verify nothing"
            )
        if not Path(ca_file).is_file():
            raise BackupConfigError(f"Qdrant CA file {ca_file} (--qdrant-ca-file, QDRANT_CA_CERT_FILE) does not exist")
    return QdrantClient(args.qdrant_url, key, ca_file)


def cmd_backup(args: argparse.Namespace) -> int:
    target = check_target(args.target)
    started = time.monotonic()
    try:
        catalog = catalog_from(args)  # inside: a missing key or bucket is a failed run for the alerts too
        if target == "database":
            manifest = database.backup(catalog, connection_from(args))
        else:
            manifest = vectorstore.backup(catalog, qdrant_from(args))
    except (Exception, TerminatedError) as error:
        # Any failure (ours, S3's, the network's, a signal) is recorded as a failed run before it is reported.
        _push_quietly(lambda: metrics.failure(target, args.pushgateway))
        if isinstance(error, BackupError | TerminatedError):
            raise
        raise BackupError(f"{target} backup failed: {type(error).__name__}: {error}") from error
    _push_quietly(lambda: metrics.success(target, manifest.total_bytes, time.monotonic() - started, args.pushgateway))
    _log().info(f"backup id: {manifest.backup_id}")  # the last line: scripts read the id from it
    return 0


def _push_quietly(push: Callable[[], None]) -> None:
    """Metrics are reported, never the reason a run fails: a backup that is safely in the bucket is a success
    even when the Pushgateway is down (the staleness alert then fires, pointing at the missing metrics)."""
    try:
        push()
    except metrics.MetricsPushError as error:
        _log().warning(f"{error}")


def cmd_verify(args: argparse.Namespace) -> int:
    target = check_target(args.target)
    catalog = catalog_from(args)
    backup_id = catalog.resolve(target, args.backup_id)
    if args.restore:
        if target == "database":
            database.verify_restore(catalog, connection_from(args), backup_id, jobs=args.jobs)
        else:
            vectorstore.verify_restore(catalog, qdrant_from(args), backup_id)
        _push_quietly(lambda: metrics.verified(target, args.pushgateway))
    elif target == "database":
        with tempfile.TemporaryDirectory(prefix="archangel-verify-") as tmp:
            database.verify(catalog, backup_id, Path(tmp))  # keeps only the table of contents there
    else:
        manifest = catalog.manifest(target, backup_id)
        with tempfile.TemporaryDirectory(prefix="archangel-verify-") as tmp:
            for artifact in manifest.artifacts:
                catalog.fetch_plain(manifest, artifact, Path(tmp) / f"{artifact.name}.snapshot")
    _log().info(f"verified: {target} {backup_id}{' (test restore)' if args.restore else ''}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    target = check_target(args.target)
    catalog = catalog_from(args)  # a bad setting fails here, before the request is claimed
    requests, claim = None, None
    if args.once:
        requests, claim = _claim_request(args, target)
        if not claim.granted:
            _log().info(
                f"restore request {args.once!r} already ran ({claim.describe_holder()}): nothing restored. "
                "A restore runs once per request; give restore.requestId a new value to restore again."
            )
            return 0
    try:
        summary = _restore(args, target, catalog)
    except BaseException as error:
        if requests is not None and claim is not None:
            _record_quietly(requests, claim, "failed", f"{type(error).__name__}: {error}")
        raise
    if requests is not None and claim is not None:
        _record_quietly(requests, claim, "completed", summary)
    _log().info(summary)
    return 0


def _claim_request(args: argparse.Namespace, target: str) -> tuple[RestoreRequests, Claim]:
    namespace = current_namespace(None)
    if not namespace:
        raise BackupConfigError("--once needs the pod's namespace: set $POD_NAMESPACE (the chart's Job does)")
    requests = RestoreRequests(core_v1_api(), namespace)
    details = {"target": target, "backupId": args.backup_id, "pod": os.environ.get("HOSTNAME", "")}
    return requests, requests.claim(args.once, details)


def _record_quietly(requests: RestoreRequests, claim: Claim, outcome: str, summary: str) -> None:
    """The outcome is recorded for the next run and for people; failing to record it changes no exit code."""
    try:
        requests.finish(claim, outcome, summary)
    except Exception as error:
        _log().warning(f"could not record the restore request's outcome: {error}")


def _restore(args: argparse.Namespace, target: str, catalog: Catalog) -> str:
    if target == "database":
        result = database.restore(
            catalog,
            connection_from(args),
            args.backup_id,
            database=args.into or args.pg_database,
            force=args.force,
            jobs=args.jobs,
        )
        return (
            f"restored {result.backup_id} into database {result.database}: {len(result.row_counts)} tables, "
            f"{sum(result.row_counts.values()):,} rows, {result.seconds:.1f} s"
        )
    restored = vectorstore.restore(
        catalog, qdrant_from(args), args.backup_id, collections=args.collection or None, force=args.force
    )
    return f"restored collections: {', '.join(f'{k} ({v:,} points)' for k, v in restored.items())}"


def cmd_prune(args: argparse.Namespace) -> int:
    target = check_target(args.target)
    if args.retention_days < 1:
        raise BackupConfigError(f"--retention-days {args.retention_days}: must be at least 1")
    catalog = catalog_from(args)
    plan = plan_prune(
        catalog.states(target),
        retention=timedelta(days=args.retention_days),
        keep_verified=args.keep_verified,
        now=datetime.now(UTC),
    )
    for backup_id in plan.keep + plan.delete:
        action = "delete" if backup_id in plan.delete else "keep"
        _log().info(f"{action:6} {target}/{backup_id}: {plan.reasons[backup_id]}")
    if plan.refusal:
        raise BackupError(f"{target}: {plan.refusal}")
    refused = []
    if not args.dry_run:
        for backup_id in plan.delete:
            try:
                catalog.discard(target, backup_id)
            except BackupError as error:  # keep going: one locked backup must not stop the others' deletion
                refused.append(str(error))
    deleted = len(plan.delete) - len(refused)
    _log().info(f"{'dry run: would delete' if args.dry_run else 'deleted'} {deleted}, kept {len(plan.keep)}")
    if refused:
        raise BackupError(f"{len(refused)} backup(s) not deleted: " + "; ".join(refused))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    target = check_target(args.target)
    catalog = catalog_from(args)
    for state in catalog.states(target):
        _log().info(f"{target}/{state.backup_id}  {state.state}" + (f"  ({state.reason})" if state.reason else ""))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """The post-install check: keys present and usable, bucket reachable and writable. An empty bucket is fine."""
    catalog = catalog_from(args)
    _log().info(
        f"keys: encryption and MAC keys present ({len(catalog.keys.encryption)} and {len(catalog.keys.mac)} bytes)"
    )
    _log().info(catalog.store.check_access())
    for target in args.targets:
        ids = [s.backup_id for s in catalog.states(check_target(target)) if s.restorable]
        _log().info(
            f"{target}: {len(ids)} backups" + (f", newest {ids[-1]}" if ids else " yet (the first runs on schedule)")
        )
    return 0


def cmd_snapshots(args: argparse.Namespace) -> int:
    from archangel_helm.backup.snapshots import VolumeSnapshotter
    from archangel_helm.hooks.kube import core_v1_api, current_namespace

    if args.retention_days < 1 or args.keep_ready < 0:
        raise BackupConfigError("--retention-days must be at least 1 and --keep-ready at least 0")
    namespace = current_namespace(args.namespace)
    if not namespace:
        raise BackupConfigError("no namespace: pass --namespace or set POD_NAMESPACE")
    import kubernetes

    core = core_v1_api()  # loads the in-cluster (or kubeconfig) configuration
    snapshotter = VolumeSnapshotter(kubernetes.client.CustomObjectsApi(), core, namespace, args.snapshot_class or None)
    try:
        report = snapshotter.run(args.selector, timedelta(days=args.retention_days), args.keep_ready, args.timeout)
    except Exception as error:
        _push_quietly(lambda: metrics.report_snapshots({}, args.pushgateway, failed=True))
        if isinstance(error, BackupError):
            raise
        raise BackupError(f"volume snapshots failed: {type(error).__name__}: {error}") from error
    _push_quietly(lambda: metrics.report_snapshots(report.ready_at, args.pushgateway))
    _log().info(f"snapshots: {len(report.created)} created, {len(report.deleted)} deleted, {len(report.kept)} kept")
    return 0


RESTORE_HELP = "disaster recovery: restore a backup into the database or Qdrant"


def _restore_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=("database", "vectorstore"))
    p.add_argument("--backup-id", default="latest", help="an id, latest or latest-verified")
    p.add_argument("--into", help="database to restore into (default --pg-database)")
    p.add_argument("--collection", action="append", default=[], help="only these collections (vectorstore)")
    p.add_argument("--force", action="store_true", help="overwrite a database or collection that has data")
    p.add_argument(
        "--jobs",
        type=_at_least(1),
        default=1,
        help="1 (default): stream from S3 into pg_restore in one transaction; more: the schema and data streamed "
        "the same way, then the indexes and constraints built by N parallel jobs (faster for large tables); "
        "no table data is written to disk either way",
    )
    p.add_argument(
        "--once",
        metavar="REQUEST",
        default=_env("ARCHANGEL_RESTORE_REQUEST"),
        help="claim this restore request first (a ConfigMap of that name in $POD_NAMESPACE, through the Kubernetes "
        "API); if an earlier run claimed it, restore nothing and exit 0 ($ARCHANGEL_RESTORE_REQUEST)",
    )
    add_arguments(p)
    p.set_defaults(func=stop_on_signals(cmd_restore))


def add_restore_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`archangel-helm restore TARGET`: the disaster-recovery command at the top level, where an operator under
    pressure looks first; the same as `archangel-helm backup restore TARGET`."""
    _restore_arguments(_parser(subparsers, "restore", RESTORE_HELP, (*COMMON_GROUPS, "restore")))


def _parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_: str,
    groups: tuple[str, ...],
    description: str | None = None,
) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=help_,
        description=description or help_,
        epilog=environment_epilog(*groups),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = subparsers.add_parser("backup", help="back up, verify, restore and prune (PostgreSQL, Qdrant)")
    commands = backup.add_subparsers(dest="backup_command", required=True, metavar="COMMAND")
    for target in ("database", "vectorstore"):
        p = _parser(commands, target, f"back up the {target}", COMMON_GROUPS)
        add_arguments(p)
        p.set_defaults(func=stop_on_signals(cmd_backup), target=target)
    p = _parser(
        commands,
        "verify",
        "check a backup's HMAC and contents; --restore also test-restores it",
        (*COMMON_GROUPS, "scratch"),
    )
    p.add_argument("target", choices=("database", "vectorstore"))
    p.add_argument("--backup-id", default="latest")
    p.add_argument(
        "--restore", action="store_true", help="restore into a scratch database/collection and compare counts"
    )
    p.add_argument("--jobs", type=_at_least(1), default=1, help="as for restore (with --restore)")
    add_arguments(p)
    p.set_defaults(func=stop_on_signals(cmd_verify))
    _restore_arguments(_parser(commands, "restore", RESTORE_HELP, (*COMMON_GROUPS, "restore")))
    prune_help = "delete backups past retention, keeping the newest verified ones"
    p = _parser(commands, "prune", prune_help, ("bucket", "keys"), description=f"{prune_help}.\n\n{PRUNE_RULES}")
    p.add_argument("target", choices=("database", "vectorstore"))
    p.add_argument("--retention-days", type=int, required=True, help="age (from the backup id) past which to delete")
    p.add_argument("--keep-verified", type=_at_least(0), default=3, help="newest test-restored backups always kept")
    p.add_argument("--dry-run", action="store_true", help="print each decision and its reason; delete nothing")
    add_arguments(p)
    p.set_defaults(func=cmd_prune)
    p = _parser(
        commands,
        "list",
        "list the backups of a target: verified, complete, incomplete or damaged (with why)",
        ("bucket", "keys"),
    )
    p.add_argument("target", choices=("database", "vectorstore"))
    add_arguments(p)
    p.set_defaults(func=cmd_list)
    p = _parser(commands, "snapshots", "VolumeSnapshots of the data volumes: create, wait, prune", ("snapshots",))
    p.add_argument("--namespace")
    p.add_argument("--selector", required=True, help="label selector of the claims, e.g. app.kubernetes.io/instance=x")
    p.add_argument("--snapshot-class", default=_env("ARCHANGEL_VOLUME_SNAPSHOT_CLASS"))
    p.add_argument("--retention-days", type=int, default=7)
    p.add_argument("--keep-ready", type=int, default=3, help="always keep this many ready snapshots per claim")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for each snapshot to be ready")
    p.add_argument("--pushgateway", default=_env("ARCHANGEL_PUSHGATEWAY_URL"))
    p.set_defaults(func=cmd_snapshots)
    p = _parser(commands, "check", "check keys and bucket access (the post-install hook)", ("bucket", "keys"))
    p.add_argument("--targets", nargs="*", default=["database", "vectorstore"])
    add_arguments(p)
    p.set_defaults(func=cmd_check)
    add_restore_command(subparsers)
