"""The team-mode PostgreSQL cluster: Debian's server binaries, one role owning the services' four databases.

The cluster lives in `HOME/services/postgres/data` (initdb at first start: superuser `postgres`, scram-sha-256 over
TCP, no Unix socket) and listens on `services.host:services.postgres_port`. One role (`services.db_user`) owns the
databases `mlflow` (the tracking server's backend store), `mlflow_auth` (its users and permissions), `optuna`
(shared studies) and `prefect` (the Prefect server). As root, the binaries run as the `postgres` OS user (the server
refuses root). `pg_ctl` starts and stops the server; psycopg2 (imported only when connecting) checks its health.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from deploy.team.credentials import Credentials
from deploy.team.processes import (
    ServiceError,
    ServiceStatus,
    alive,
    port_open,
    read_pid,
    services_dir,
    stop_group,
    tail,
    wait_until,
)
from xsell.secret_files import write_private
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "DATABASES",
    "postgres_address",
    "postgres_bin_dir",
    "postgres_healthy",
    "postgres_pid",
    "start_postgres",
    "stop_postgres",
]

DATABASES = ("mlflow", "mlflow_auth", "optuna", "prefect")
_POSTGRES_OS_USER = "postgres"  # the server refuses to run as root: as root it runs as this OS user


def postgres_address(settings: Settings) -> str:
    """The server's address as `status` shows it (no role, no database)."""
    return f"postgresql://{settings.services.host}:{settings.services.postgres_port}"


def postgres_bin_dir(settings: Settings) -> Path:
    """Folder holding initdb and pg_ctl: services.postgres_bin, the newest /usr/lib/postgresql/*/bin, else PATH."""
    if settings.services.postgres_bin is not None:
        folder = Path(settings.services.postgres_bin)
        if not (folder / "pg_ctl").is_file():
            raise ServiceError(f"services.postgres_bin {folder} holds no pg_ctl")
        return folder
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    for folder in reversed(candidates):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServiceError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: `apt-get install -y postgresql` "
        "or set services.postgres_bin"
    )


def _as_postgres_user() -> list[str]:
    """Command prefix running a PostgreSQL binary as the `postgres` OS user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(_POSTGRES_OS_USER)
    except KeyError:
        raise ServiceError(
            "running as root, PostgreSQL needs the OS user 'postgres' (created by `apt-get install postgresql`)"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServiceError("running as root, `runuser` (util-linux) is needed to start PostgreSQL as 'postgres'")
    return [runuser, "-u", _POSTGRES_OS_USER, "--"]


def _check_traversable(folder: Path) -> None:
    """As root: the postgres OS user must be able to enter every ancestor of its data folder."""
    if os.geteuid() != 0:
        return
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise ServiceError(
                f"PostgreSQL runs as the OS user 'postgres', which cannot enter {parent} "
                f"(mode {oct(parent.stat().st_mode & 0o777)}): `chmod o+x {parent}` or choose another --home"
            )


def _postgres_dirs(settings: Settings) -> tuple[Path, Path]:
    root = services_dir(settings) / "postgres"
    return root, root / "data"


def _pg_connect(settings: Settings, creds: Credentials, database: str = "postgres", *, superuser: bool = True) -> Any:
    import psycopg2

    cfg = settings.services
    return psycopg2.connect(
        host=cfg.host,
        port=cfg.postgres_port,
        dbname=database,
        user="postgres" if superuser else creds.db_user,
        password=creds.superuser_password if superuser else creds.db_password,
        connect_timeout=3,
    )


def postgres_healthy(settings: Settings, creds: Credentials) -> bool:
    """True when the superuser can connect and run `select 1`."""
    try:
        con = _pg_connect(settings, creds)
    except Exception:
        return False
    try:
        with con.cursor() as cur:
            cur.execute("select 1")
            return cur.fetchone() == (1,)
    finally:
        con.close()


def postgres_pid(settings: Settings) -> int | None:
    """The postmaster's pid while it runs, else None."""
    _, data = _postgres_dirs(settings)
    pid = read_pid(data / "postmaster.pid")
    return pid if pid is not None and alive(pid) else None


def _init_postgres(settings: Settings, creds: Credentials, bin_dir: Path) -> None:
    """initdb a new cluster (superuser `postgres`, scram-sha-256 over TCP) owned by the postgres OS user."""
    root, data = _postgres_dirs(settings)
    root.mkdir(parents=True, exist_ok=True)
    _check_traversable(root)
    prefix = _as_postgres_user()
    pwfile = root / ".pwfile"
    write_private(pwfile, creds.superuser_password + "\n")
    if prefix:
        user = pwd.getpwnam(_POSTGRES_OS_USER)
        for path in (root, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        root.chmod(0o700)
    try:
        result = subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
             "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ServiceError(f"postgres: initdb failed in {data}:\n{(result.stderr or result.stdout)[-2000:]}")
    log.info("initialised PostgreSQL cluster", extra={"data": str(data)})


def start_postgres(settings: Settings, creds: Credentials) -> ServiceStatus:
    """Start the cluster (initialised first when new) and ensure the role and databases; a running one is reported."""
    cfg = settings.services
    root, data = _postgres_dirs(settings)
    url = postgres_address(settings)
    pid = postgres_pid(settings)
    if pid is not None:
        return ServiceStatus("postgres", pid, url, postgres_healthy(settings, creds), "already running")
    if port_open(cfg.host, cfg.postgres_port):
        raise ServiceError(
            f"postgres: port {cfg.postgres_port} on {cfg.host} is taken by another process (set services.postgres_port)"
        )
    bin_dir = postgres_bin_dir(settings)
    if not (data / "PG_VERSION").is_file():
        _init_postgres(settings, creds, bin_dir)
    log_path = root / "postgres.log"
    options = f"-c listen_addresses={cfg.host} -p {cfg.postgres_port} -c unix_socket_directories=''"
    started = time.monotonic()
    result = subprocess.run(
        [*_as_postgres_user(), str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log_path), "-o", options,
         "-w", "-t", str(int(cfg.start_timeout_seconds)), "start"],
        capture_output=True, text=True, timeout=cfg.start_timeout_seconds + 30,
    )  # fmt: skip
    if result.returncode != 0:
        raise ServiceError(
            f"postgres: pg_ctl start failed ({(result.stderr or result.stdout).strip()}); "
            f"last lines of {log_path}:\n{tail(log_path)}"
        )
    wait_until(
        lambda: postgres_healthy(settings, creds),
        timeout=cfg.start_timeout_seconds, what="postgres", pid=None, log_path=log_path,
    )  # fmt: skip
    _ensure_databases(settings, creds)
    pid = postgres_pid(settings)
    log.info(
        "postgres started", extra={"pid": pid, "port": cfg.postgres_port, "s": round(time.monotonic() - started, 1)}
    )
    return ServiceStatus("postgres", pid, url, True, "started")


def _ensure_databases(settings: Settings, creds: Credentials) -> None:
    """Create the services' role and its databases when missing (idempotent)."""
    from psycopg2 import sql

    con = _pg_connect(settings, creds)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", (creds.db_user,))
            verb = "alter" if cur.fetchone() else "create"
            cur.execute(
                sql.SQL(verb + " role {} with login password {}").format(
                    sql.Identifier(creds.db_user), sql.Literal(creds.db_password)
                )
            )
            for database in DATABASES:
                cur.execute("select 1 from pg_database where datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(
                        sql.SQL("create database {} owner {}").format(
                            sql.Identifier(database), sql.Identifier(creds.db_user)
                        )
                    )
                    log.info("created database", extra={"database": database})
    finally:
        con.close()


def stop_postgres(settings: Settings) -> ServiceStatus:
    """Stop the cluster (`pg_ctl stop -m fast`, then the process group if it lingers); not running is reported."""
    cfg = settings.services
    _, data = _postgres_dirs(settings)
    url = postgres_address(settings)
    pid = postgres_pid(settings)
    if pid is None:
        return ServiceStatus("postgres", None, url, False, "not running")
    result = subprocess.run(
        [*_as_postgres_user(), str(postgres_bin_dir(settings) / "pg_ctl"), "-D", str(data), "-m", "fast",
         "-w", "-t", str(int(cfg.stop_timeout_seconds)), "stop"],
        capture_output=True, text=True, timeout=cfg.stop_timeout_seconds + 30,
    )  # fmt: skip
    deadline = time.monotonic() + cfg.stop_timeout_seconds
    while result.returncode == 0 and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)  # pg_ctl returns once the pid file is gone; the postmaster may take a moment to exit
    if alive(pid):
        stop_group("postgres", pid, cfg.stop_timeout_seconds)
    return ServiceStatus("postgres", pid, url, False, "stopped")
