"""Team-mode services on loopback: PostgreSQL, an MLflow tracking server with basic-auth, a Prefect server.

PostgreSQL (Debian's server binaries) holds four databases owned by one role (`services.db_user`): `mlflow` (the
tracking server's backend store), `mlflow_auth` (its users and permissions), `optuna` (shared studies) and
`prefect` (the Prefect server). The MLflow server serves artifacts from `HOME/services/mlflow/artifacts` and needs
credentials for every request (`--app-name basic-auth`; anonymous calls get 401). Everything lives under
`HOME/services/`: data, logs (`<name>/<name>.log`), pid files, `credentials.json` (generated at first start, mode
0600) and `team.env` (the variables that put a shell in team mode, mode 0600). Starting is idempotent (a running
service is reported, never restarted) and waits until each port answers healthy; stopping ends every process of
a service's group. Nothing here imports MLflow, Prefect or Optuna: the servers run as child processes.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xsell.errors import XsellError
from xsell.fileio import write_text_atomic
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "DATABASES",
    "SERVICES",
    "Credentials",
    "ServiceError",
    "ServiceStatus",
    "load_credentials",
    "postgres_url",
    "service_status",
    "services_dir",
    "start_services",
    "stop_services",
    "team_env",
    "write_team_env",
]

SERVICES = ("postgres", "mlflow", "prefect")
DATABASES = ("mlflow", "mlflow_auth", "optuna", "prefect")
_POSTGRES_OS_USER = "postgres"  # the server refuses to run as root: as root it runs as this OS user
_LOG_TAIL_LINES = 25


class ServiceError(XsellError, RuntimeError):
    """A service could not be started, checked or stopped; the message names the service and the cause."""


@dataclass(frozen=True)
class Credentials:
    """Secrets generated at first start and kept in HOME/services/credentials.json (0600), never committed."""

    db_user: str
    db_password: str
    superuser_password: str
    mlflow_admin: str
    mlflow_admin_password: str
    flask_secret_key: str


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `status` reports it."""

    name: str
    pid: int | None
    url: str
    healthy: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


# ---- locations and secrets ----------------------------------------------------------------------------------------


def services_dir(settings: Settings) -> Path:
    """HOME/services: data, logs, pid files, credentials and team.env of every service."""
    return (settings.home / "services").resolve()


def _pid_file(settings: Settings, name: str) -> Path:
    return services_dir(settings) / name / f"{name}.pid"


def _log_file(settings: Settings, name: str) -> Path:
    return services_dir(settings) / name / f"{name}.log"


def _write_private(path: Path, text: str) -> None:
    """Write `text` atomically with mode 0600 (secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def load_credentials(settings: Settings, *, create: bool = False) -> Credentials:
    """The services' secrets from HOME/services/credentials.json; generated there first when `create`."""
    path = services_dir(settings) / "credentials.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return Credentials(**data)
    if not create:
        raise ServiceError(f"no credentials at {path}: run `xsell services start` first")
    cfg = settings.services
    creds = Credentials(
        db_user=cfg.db_user,
        db_password=secrets.token_urlsafe(24),
        superuser_password=secrets.token_urlsafe(24),
        mlflow_admin=cfg.mlflow_admin,
        mlflow_admin_password=secrets.token_urlsafe(24),
        flask_secret_key=secrets.token_hex(32),
    )
    _write_private(path, json.dumps(asdict(creds), indent=2) + "\n")
    log.info("generated service credentials", extra={"path": str(path)})
    return creds


def postgres_url(settings: Settings, creds: Credentials, database: str, *, driver: str = "postgresql") -> str:
    """SQLAlchemy URL of one database as the services' role (`driver` e.g. `postgresql+asyncpg`)."""
    cfg = settings.services
    return f"{driver}://{creds.db_user}:{creds.db_password}@{cfg.host}:{cfg.postgres_port}/{database}"


def team_env(settings: Settings, creds: Credentials) -> dict[str, str]:
    """The environment that puts xsell commands in team mode against these services."""
    cfg = settings.services
    return {
        "MLFLOW_TRACKING_URI": f"http://{cfg.host}:{cfg.mlflow_port}",
        "MLFLOW_TRACKING_USERNAME": creds.mlflow_admin,
        "MLFLOW_TRACKING_PASSWORD": creds.mlflow_admin_password,
        "PREFECT_API_URL": f"http://{cfg.host}:{cfg.prefect_port}/api",
        "XSELL_TRAINING__OPTUNA_STORAGE": postgres_url(settings, creds, "optuna"),
        # so that `xsell services status|stop` in that shell finds these servers
        "XSELL_SERVICES__POSTGRES_PORT": str(cfg.postgres_port),
        "XSELL_SERVICES__MLFLOW_PORT": str(cfg.mlflow_port),
        "XSELL_SERVICES__PREFECT_PORT": str(cfg.prefect_port),
    }


def write_team_env(settings: Settings, creds: Credentials) -> Path:
    """Write HOME/services/team.env (0600): `export NAME=value` lines to source in a shell."""
    path = services_dir(settings) / "team.env"
    lines = ["# xsell team mode: `. " + str(path) + "` (secrets: keep this file private)"]
    lines += [f"export {key}={value}" for key, value in team_env(settings, creds).items()]
    _write_private(path, "\n".join(lines) + "\n")
    return path


# ---- processes ----------------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child is reaped and counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """True while any process of the group runs (zombies reaped)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError, PermissionError):
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return any(_alive(pid) for pid in members)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def _http_get(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """Status code and body of a GET (connection errors raise OSError)."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _wait_until(check: Callable[[], bool], *, timeout: float, what: str, pid: int | None, log_path: Path) -> float:
    """Poll `check` until it is true; ServiceError with the log's tail when the process dies or time runs out."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except OSError:
            pass
        if pid is not None and not _alive(pid):
            raise ServiceError(f"{what} exited during start-up; last lines of {log_path}:\n{_tail(log_path)}")
        if time.monotonic() - started > timeout:
            raise ServiceError(
                f"{what} not healthy after {timeout:.0f} s (services.start_timeout_seconds); "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.5)


def _spawn(argv: Sequence[str], env: dict[str, str], log_path: Path, pid_path: Path) -> int:
    """Start a server in its own session (process group), output appended to its log; write its pid file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            list(argv), env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    write_text_atomic(pid_path, f"{process.pid}\n")
    return process.pid


def _stop_group(name: str, pid: int, timeout: float) -> None:
    """SIGTERM the process group of `pid`, SIGKILL what is left after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                return
            time.sleep(0.2)
        if sig == signal.SIGTERM:
            log.warning("service did not stop on SIGTERM; killing it", extra={"service": name, "pid": pid})
    raise ServiceError(f"{name} (process group {pid}) still running after SIGKILL")


# ---- PostgreSQL -------------------------------------------------------------------------------------------------------


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


def _postgres_healthy(settings: Settings, creds: Credentials) -> bool:
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


def _postgres_pid(settings: Settings) -> int | None:
    _, data = _postgres_dirs(settings)
    pid = _read_pid(data / "postmaster.pid")
    return pid if pid is not None and _alive(pid) else None


def _init_postgres(settings: Settings, creds: Credentials, bin_dir: Path) -> None:
    """initdb a new cluster (superuser `postgres`, scram-sha-256 over TCP) owned by the postgres OS user."""
    root, data = _postgres_dirs(settings)
    root.mkdir(parents=True, exist_ok=True)
    _check_traversable(root)
    prefix = _as_postgres_user()
    pwfile = root / ".pwfile"
    _write_private(pwfile, creds.superuser_password + "\n")
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


def _start_postgres(settings: Settings, creds: Credentials) -> ServiceStatus:
    cfg = settings.services
    root, data = _postgres_dirs(settings)
    url = f"postgresql://{cfg.host}:{cfg.postgres_port}"
    pid = _postgres_pid(settings)
    if pid is not None:
        return ServiceStatus("postgres", pid, url, _postgres_healthy(settings, creds), "already running")
    if _port_open(cfg.host, cfg.postgres_port):
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
            f"last lines of {log_path}:\n{_tail(log_path)}"
        )
    _wait_until(
        lambda: _postgres_healthy(settings, creds),
        timeout=cfg.start_timeout_seconds, what="postgres", pid=None, log_path=log_path,
    )  # fmt: skip
    _ensure_databases(settings, creds)
    pid = _postgres_pid(settings)
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


def _stop_postgres(settings: Settings) -> ServiceStatus:
    cfg = settings.services
    _, data = _postgres_dirs(settings)
    url = f"postgresql://{cfg.host}:{cfg.postgres_port}"
    pid = _postgres_pid(settings)
    if pid is None:
        return ServiceStatus("postgres", None, url, False, "not running")
    result = subprocess.run(
        [*_as_postgres_user(), str(postgres_bin_dir(settings) / "pg_ctl"), "-D", str(data), "-m", "fast",
         "-w", "-t", str(int(cfg.stop_timeout_seconds)), "stop"],
        capture_output=True, text=True, timeout=cfg.stop_timeout_seconds + 30,
    )  # fmt: skip
    deadline = time.monotonic() + cfg.stop_timeout_seconds
    while result.returncode == 0 and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)  # pg_ctl returns once the pid file is gone; the postmaster may take a moment to exit
    if _alive(pid):
        _stop_group("postgres", pid, cfg.stop_timeout_seconds)
    return ServiceStatus("postgres", pid, url, False, "stopped")


# ---- MLflow and Prefect servers ----------------------------------------------------------------------------------------


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without team-mode client variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "PREFECT_API_URL"))}
    env.update({"DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def _mlflow_url(settings: Settings) -> str:
    return f"http://{settings.services.host}:{settings.services.mlflow_port}"


def _prefect_url(settings: Settings) -> str:
    return f"http://{settings.services.host}:{settings.services.prefect_port}"


def _mlflow_healthy(settings: Settings, creds: Credentials) -> bool:
    """The server answers an authenticated API call (its /health alone does not prove the auth app loaded)."""
    status, _ = _http_get(
        _mlflow_url(settings) + "/api/2.0/mlflow/experiments/search?max_results=1",
        auth=(creds.mlflow_admin, creds.mlflow_admin_password),
    )
    return status == 200


def _prefect_healthy(settings: Settings, creds: Credentials) -> bool:
    status, body = _http_get(_prefect_url(settings) + "/api/health")
    return status == 200 and body.strip() == "true"


def _mlflow_argv(settings: Settings, creds: Credentials) -> tuple[list[str], dict[str, str]]:
    cfg = settings.services
    root = services_dir(settings) / "mlflow"
    artifacts = root / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    auth_ini = root / "basic_auth.ini"
    parser = configparser.ConfigParser()
    parser["mlflow"] = {
        "default_permission": "READ",
        "database_uri": postgres_url(settings, creds, "mlflow_auth"),
        "admin_username": creds.mlflow_admin,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        # a password check is a PBKDF2 hash (~1 s per request on 2 busy cores) unless cached; one server worker
        "auth_cache_ttl_seconds": "300",
    }
    lines: list[str] = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in parser[section].items()]
    _write_private(auth_ini, "\n".join(lines) + "\n")
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--host", cfg.host, "--port", str(cfg.mlflow_port), "--workers", str(cfg.mlflow_workers),
        "--artifacts-destination", str(artifacts), "--serve-artifacts",
        "--app-name", "basic-auth",
    ]  # fmt: skip
    env = _server_env(
        {
            "MLFLOW_BACKEND_STORE_URI": postgres_url(settings, creds, "mlflow"),  # not in argv: ps shows argv
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
            "MLFLOW_AUTH_ADMIN_USERNAME": creds.mlflow_admin,
            "MLFLOW_AUTH_ADMIN_PASSWORD": creds.mlflow_admin_password,  # used once, when the user store is empty
            "MLFLOW_FLASK_SERVER_SECRET_KEY": creds.flask_secret_key,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no huey job workers left behind
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
    )
    return argv, env


def _prefect_argv(settings: Settings, creds: Credentials) -> tuple[list[str], dict[str, str]]:
    cfg = settings.services
    home = services_dir(settings) / "prefect" / "home"
    home.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", cfg.host, "--port", str(cfg.prefect_port)]
    env = _server_env(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": postgres_url(
                settings, creds, "prefect", driver="postgresql+asyncpg"
            ),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true",
            "PREFECT_SERVER_UI_ENABLED": "true",
            # the UI calls the API at this address; without it, it assumes port 4200 whatever the server's port
            "PREFECT_UI_API_URL": f"http://{cfg.host}:{cfg.prefect_port}/api",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        }
    )
    return argv, env


_SERVERS: dict[str, tuple[Callable[..., tuple[list[str], dict[str, str]]], Callable[..., bool], Callable[..., str]]] = {
    "mlflow": (_mlflow_argv, _mlflow_healthy, _mlflow_url),
    "prefect": (_prefect_argv, _prefect_healthy, _prefect_url),
}


def _port_of(settings: Settings, name: str) -> int:
    return int(getattr(settings.services, f"{name}_port"))


def _launch_server(settings: Settings, creds: Credentials, name: str) -> ServiceStatus | int:
    """Spawn server `name` and return its pid, or its status when it already runs (never restarted)."""
    build, healthy, url_of = _SERVERS[name]
    cfg = settings.services
    pid = _read_pid(_pid_file(settings, name))
    if pid is not None and _alive(pid):
        return ServiceStatus(name, pid, url_of(settings), _safe(healthy, settings, creds), "already running")
    port = _port_of(settings, name)
    if _port_open(cfg.host, port):
        raise ServiceError(f"{name}: port {port} on {cfg.host} is taken by another process (set services.{name}_port)")
    argv, env = build(settings, creds)
    return _spawn(argv, env, _log_file(settings, name), _pid_file(settings, name))


def _await_server(settings: Settings, creds: Credentials, name: str, pid: int, started: float) -> ServiceStatus:
    """Wait until a spawned server answers healthy (ServiceError with its log's tail otherwise)."""
    _, healthy, url_of = _SERVERS[name]
    log_path = _log_file(settings, name)
    _wait_until(
        lambda: healthy(settings, creds),
        timeout=settings.services.start_timeout_seconds, what=name, pid=pid, log_path=log_path,
    )  # fmt: skip
    seconds = time.monotonic() - started
    log.info(f"{name} started", extra={"pid": pid, "url": url_of(settings), "s": round(seconds, 1)})
    return ServiceStatus(name, pid, url_of(settings), True, f"started in {seconds:.1f} s")


def _stop_server(settings: Settings, name: str) -> ServiceStatus:
    url = _SERVERS[name][2](settings)
    pid_path = _pid_file(settings, name)
    pid = _read_pid(pid_path)
    if pid is None or not (_alive(pid) or _group_alive(pid)):
        pid_path.unlink(missing_ok=True)
        return ServiceStatus(name, None, url, False, "not running")
    _stop_group(name, pid, settings.services.stop_timeout_seconds)
    pid_path.unlink(missing_ok=True)
    return ServiceStatus(name, pid, url, False, "stopped")


def _safe(check: Callable[..., bool], *args: Any) -> bool:
    try:
        return bool(check(*args))
    except OSError:
        return False


# ---- the public commands ------------------------------------------------------------------------------------------------


def _selected(names: Sequence[str] | None) -> list[str]:
    chosen = list(names) if names else list(SERVICES)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise ServiceError(f"unknown service(s) {unknown}: choose from {list(SERVICES)}")
    return [n for n in SERVICES if n in chosen]


def start_services(settings: Settings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Start PostgreSQL, then the MLflow and Prefect servers (or `names`); running ones are reported, not restarted.

    The MLflow and Prefect servers need PostgreSQL, so it is started whenever either is. Writes team.env.
    """
    chosen = _selected(names)
    if any(n in chosen for n in ("mlflow", "prefect")) and "postgres" not in chosen:
        chosen = ["postgres", *chosen]
    services_dir(settings).mkdir(parents=True, exist_ok=True)
    services_dir(settings).chmod(0o711)
    creds = load_credentials(settings, create=True)
    statuses: dict[str, ServiceStatus] = {}
    if "postgres" in chosen:
        statuses["postgres"] = _start_postgres(settings, creds)
    started = time.monotonic()
    spawned: dict[str, int] = {}
    try:
        for name in (n for n in chosen if n != "postgres"):  # both servers start at once, then are awaited
            launched = _launch_server(settings, creds, name)
            if isinstance(launched, ServiceStatus):
                statuses[name] = launched
            else:
                spawned[name] = launched
        for name, pid in spawned.items():
            statuses[name] = _await_server(settings, creds, name, pid, started)
    except ServiceError:
        for name in spawned:  # a half-started set is not left behind: what this call spawned is stopped
            with contextlib.suppress(ServiceError):
                _stop_server(settings, name)
        raise
    write_team_env(settings, creds)
    return [statuses[n] for n in chosen]


def stop_services(settings: Settings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Stop the servers (or `names`), PostgreSQL last; a service that is not running is reported as such."""
    chosen = _selected(names)
    return [_stop_postgres(settings) if n == "postgres" else _stop_server(settings, n) for n in reversed(chosen)][::-1]


def service_status(settings: Settings) -> list[ServiceStatus]:
    """Each service: pid (when running), URL, and whether it answers healthy now."""
    try:
        creds: Credentials | None = load_credentials(settings)
    except ServiceError:
        creds = None
    cfg = settings.services
    out = []
    pid = _postgres_pid(settings)
    healthy = creds is not None and pid is not None and _postgres_healthy(settings, creds)
    out.append(
        ServiceStatus("postgres", pid, f"postgresql://{cfg.host}:{cfg.postgres_port}", healthy, _detail(pid, healthy))
    )
    for name, (_, check, url_of) in _SERVERS.items():
        pid = _read_pid(_pid_file(settings, name))
        pid = pid if pid is not None and _alive(pid) else None
        healthy = creds is not None and pid is not None and _safe(check, settings, creds)
        out.append(ServiceStatus(name, pid, url_of(settings), healthy, _detail(pid, healthy)))
    return out


def _detail(pid: int | None, healthy: bool) -> str:
    if pid is None:
        return "not running"
    return "running" if healthy else "running, not answering"
