"""Benchmark: latency of the scoring API (`xsell serve`) under an open-loop load on loopback, shadow on.

    python -m bench.serving --accounts 2000 --rates 50 200 --duration 25

Prepares a home once (cached under `--work`): a generated export, consolidated, a small model trained (`--trials`)
and registered twice with its tier policy, so `champion` and `challenger` differ and every request is also
shadow-scored. Starts `xsell serve` in a child process on a free loopback port (alias polling every 5 s), waits for
`/health`, warms up, then for each rate sends `POST /v1/score` with one account id (or, with `--path rows`, that
account's feature rows) at fixed intervals for `--duration` seconds, whatever the answers' pace (open loop:
latency counts from the scheduled send time, so a stalled server cannot hide its queue). Prints p50/p90/p99/max
latency, achieved rate, errors, the server's and the client's CPU use and the shadow worker's counters
(`--no-shadow` serves without it, for comparison).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import bench_parser, ensure_consolidated, ensure_export, last_month, run_child
from bench.scoring import _registered as registered_twice
from features.store import ROWS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _snapshot_rows(home: Path) -> list[dict[str, Any]]:
    """Feature rows of the latest materialised snapshot (read-only, closed before the server starts)."""
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        frame = con.execute(f"SELECT * FROM {ROWS} WHERE as_of = (SELECT max(as_of) FROM {ROWS})").df()
    finally:
        con.close()
    frame["as_of"] = frame["as_of"].astype(str)
    return json.loads(frame.drop(columns=["label"]).to_json(orient="records"))  # type: ignore[no-any-return]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(home: Path, port: int, log: Path, shadow: bool = True) -> subprocess.Popen[bytes]:
    """`xsell serve` in a child process (aliases polled every 5 s); its output goes to `log`."""
    env = {
        **os.environ,
        "XSELL_API__RELOAD_POLL_SECONDS": "5",
        "XSELL_API__SHADOW": "true" if shadow else "false",
        "XSELL_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-c", "from flows.cli import run; run()"]
    args = ["--home", str(home), "--no-progress", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen([*command, *args], stdout=out, stderr=subprocess.STDOUT, env=env)


async def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> dict[str, Any]:
    """Poll `/health` until it answers; the model description once it does."""
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {proc.returncode} before answering")
            try:
                if (await client.get("/health")).status_code == 200:
                    return (await client.get("/v1/model")).json()  # type: ignore[no-any-return]
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the server did not answer /health within {timeout:.0f} s")


class KeepAlivePool:
    """Keep-alive HTTP/1.1 connections to one loopback server: a lean client for the load generator (httpx costs
    several times more CPU per request, which on 2 shared cores would be taken from the server under test)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST a JSON body; (status, response body). A reused connection the server closed meanwhile (its
        keep-alive timeout) is replaced by a new one, as any HTTP client does."""
        while self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._exchange(reader, writer, path, body)
            except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1
        return await self._exchange(reader, writer, path, body)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
    ) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        status = int((await reader.readline()).split()[1])
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        payload = await reader.readexactly(length)
        if close:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return status, payload

    async def close(self) -> None:
        """Close the idle connections."""
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def open_loop(port: int, bodies: list[bytes], rate: float, duration: float) -> dict[str, Any]:
    """Send `rate` requests per second for `duration` seconds on a fixed schedule; latency from the scheduled time."""
    total = int(rate * duration)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    pool = KeepAlivePool("127.0.0.1", port)

    async def one(body: bytes, due: float) -> None:
        try:
            status, _ = await asyncio.wait_for(pool.post("/v1/score", body), timeout=10.0)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, IndexError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if status != 200:
            errors[str(status)] = errors.get(str(status), 0) + 1
            return
        latencies.append(time.perf_counter() - due)

    tasks = []
    client_cpu = time.process_time()
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(bodies[i % len(bodies)], due)))
    sent_s = time.perf_counter() - start
    await asyncio.gather(*tasks)
    done_s = time.perf_counter() - start
    await pool.close()
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "rate": rate,
        "requests": total,
        "ok": len(latencies),
        "errors": errors,
        "achieved_rate": len(latencies) / done_s,
        "send_rate": total / sent_s,
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(np.max(ms)),
        "seconds": done_s,
        "connections": pool.opened,
        "client_cpu": (time.process_time() - client_cpu) / done_s,
    }


def _bodies(rows: list[dict[str, Any]], path: str, seed: int) -> list[bytes]:
    """One request body per account (shuffled): its id, or its feature rows."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_account.setdefault(str(row["account_id"]), []).append(row)
    accounts = sorted(by_account)
    random.Random(seed).shuffle(accounts)
    if path == "ids":
        return [json.dumps({"account_ids": [a]}).encode() for a in accounts]
    return [json.dumps({"rows": by_account[a]}).encode() for a in accounts]


async def run_bench(
    home: Path, rates: list[float], duration: float, path: str, seed: int, shadow: bool = True
) -> list[dict[str, Any]]:
    """Start the server, warm up, run each rate, stop the server; one result per rate."""
    import httpx

    bodies = _bodies(_snapshot_rows(home), path, seed)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = home / "bench-serve.log"
    started = time.perf_counter()
    proc = start_server(home, port, log, shadow)
    results = []
    try:
        described = await wait_healthy(base, proc)
        print(
            f"server up in {time.perf_counter() - started:.1f} s (load {described['load_seconds']:.1f} s): champion "
            f"v{described['champion']['version']}, challenger "
            f"{'v' + str(described['challenger']['version']) if described['challenger'] else 'none'}, snapshot "
            f"{described['snapshot']['as_of']} ({described['snapshot']['accounts']:,} accounts), "
            f"precomputed {described['precomputed']}",
            file=sys.stderr,
        )
        await open_loop(port, bodies, 20, 3)  # warm-up
        for rate in rates:
            cpu = _cpu_seconds(proc.pid)
            result = await open_loop(port, bodies, rate, duration)
            result["server_cpu"] = (_cpu_seconds(proc.pid) - cpu) / result["seconds"]
            async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
                await asyncio.sleep(1.0)
                result["shadow"] = (await client.get("/v1/model")).json()["shadow"]
            results.append(result)
            print(f"{rate:g} req/s: {json.dumps(result)}", file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def main(argv: list[str] | None = None) -> int:
    """Prepare the home (cached), serve it, load it at each rate, print the latency table."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[2000], months=24)
    parser.add_argument("--trials", type=int, default=2, help="Optuna trials of the served model")
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0], help="requests per second")
    parser.add_argument("--duration", type=float, default=25.0, help="seconds per rate")
    parser.add_argument("--path", choices=["ids", "rows"], default="ids", help="one account id, or its feature rows")
    parser.add_argument("--no-shadow", action="store_true", help="serve without shadow scoring (for comparison)")
    args = parser.parse_args(argv)
    end = last_month(args.start, args.months)
    accounts = args.accounts[0]
    raw = ensure_export(args.work, accounts, args.start, end, args.seed)
    home = (args.work / f"serving-home-{accounts}").resolve()
    ensure_consolidated(raw, home)
    if not registered_twice(home):
        prep = run_child("bench.champions", ["scoring", str(home), str(args.trials)])
        print(
            f"trained on {prep.result['rows']:,} rows, registered versions {prep.result['versions']} "
            f"in {prep.seconds:.1f} s",
            file=sys.stderr,
        )
    import uvloop

    results = uvloop.run(run_bench(home, args.rates, args.duration, args.path, args.seed, not args.no_shadow))
    print(
        f"scoring API, POST /v1/score with one account per request ({args.path}), shadow {'off' if args.no_shadow else 'on'}, "
        f"{accounts:,} accounts, {os.cpu_count()} cores, {args.duration:g} s per rate"
    )
    print(
        f"{'rate':>6} {'achieved':>9} {'ok':>6} {'errors':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'server cpu':>10} {'client cpu':>10} {'shadow rows':>11} {'dropped':>7}"
    )
    for r in results:
        print(
            f"{r['rate']:>6g} {r['achieved_rate']:>9.1f} {r['ok']:>6,} {sum(r['errors'].values()):>7,}"
            f" {r['p50_ms']:>7.1f} {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['max_ms']:>7.1f}"
            f" {r['server_cpu']:>10.0%} {r['client_cpu']:>10.0%} {r['shadow']['logged_rows']:>11,}"
            f" {r['shadow']['dropped']:>7,}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
