"""Benchmark: complete SMS turns through the gateway, side by side with Rasa's REST channel called directly.

    make bench            (or: .venv/bin/python scripts/bench_gateway.py [--conversations N]
                           [--concurrency 1,20] [--rasa-workers N])

Starts its own stack on a fresh SQLite database (trained model, Rasa, action server) and a gateway
process, then plays the same scripted conversations (English and Spanish, each to a stored referral)
at 1 and at 20 concurrent conversations (or the levels given), with no pause between turns:
- "gateway": signed Twilio webhooks (RequestValidator signatures) to POST /sms, TwiML back;
- "rasa direct": the same turns to Rasa's REST webhook, numbered replies sent as the payload the
  gateway would send.
Prints throughput and p50/p95/p99 latency per path, the CPU time each process spent per turn (Rasa,
the action server with its worker processes, the gateway: read from /proc, so Linux only), and the
gateway's overhead against Rasa. Everything runs on this machine, load generator included, so the
figures include its share of the CPU; on a shared machine the CPU per turn is the steadier figure
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import aiohttp
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.render import match_choice  # noqa: E402
from bot.stack import running_stack  # noqa: E402
from referrals.config import Settings  # noqa: E402
from tests.conftest import PG_ADMIN_URL, start_gateway, stop_gateway  # noqa: E402

TOKEN = "bench-twilio-token"
SCRIPTS = [
    ["hi", "i need a job, got laid off", "47104", "3", "1", "thanks"],
    ["hola", "necesito ayuda para pagar la renta", "47102", "3", "1", "1", "gracias"],
    ["i want to start saving money", "47101", "3", "1", "2", "thank you"],
]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (0 where /proc cannot tell)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(c)) for c in children)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def gateway_conversation(session, url: str, script: list[str], latencies: list[float]) -> None:
    phone = "+1555" + str(uuid.uuid4().int)[:7]
    validator = RequestValidator(TOKEN)
    for text in script:
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": phone,
                "To": "+15550100000", "Body": text, "NumMedia": "0"}
        signature = validator.compute_signature(url, form)
        started = time.perf_counter()
        async with session.post(url, data=form, headers={"X-Twilio-Signature": signature}) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append(time.perf_counter() - started)


ACTIONS_SECRET = {"value": ""}  # the stack's, so "rasa direct" referrals are made as through the gateway


async def rasa_conversation(session, url: str, script: list[str], latencies: list[float]) -> None:
    from referrals.vault import sender_proof

    sender = "bench-" + uuid.uuid4().hex
    proof = sender_proof(ACTIONS_SECRET["value"], sender)
    buttons: list[dict] = []
    for text in script:
        message = match_choice(text, buttons) or text
        started = time.perf_counter()
        async with session.post(url, json={"sender": sender, "message": message,
                                           "metadata": {"channel": "bench", "sender_proof": proof}}) as resp:
            body = await resp.json()
            assert resp.status == 200
        latencies.append(time.perf_counter() - started)
        buttons = next((m["buttons"] for m in reversed(body) if m.get("buttons")), [])


async def run(kind: str, url: str, conversations: int, concurrency: int,
              pids: dict[str, int] | None = None) -> dict:
    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(conversations):
        queue.put_nowait(SCRIPTS[i % len(SCRIPTS)])
    play = gateway_conversation if kind == "gateway" else rasa_conversation

    async def worker(session):
        while not queue.empty():
            await play(session, url, queue.get_nowait(), latencies)

    pids = pids or {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
        client_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - started
        cpu = {name: (process_cpu_seconds(pid) - cpu_before[name]) * 1000 / len(latencies)
               for name, pid in pids.items()}
        if pids:
            cpu["client"] = (time.process_time() - client_before) * 1000 / len(latencies)
    ms = [x * 1000 for x in latencies]
    return {"path": kind, "concurrency": concurrency, "turns": len(ms), "per_s": len(ms) / wall,
            "p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99),
            "mean": statistics.fmean(ms), "cpu": cpu}


def table(rows: list[dict]) -> str:
    names = list(rows[0]["cpu"]) if rows else []
    head = (f"{'path':<12} {'conc':>4} {'turns':>6} {'msg/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'mean ms':>8}"
            + "".join(f" {'cpu:' + n:>12}" for n in names))
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['path']:<12} {r['concurrency']:>4} {r['turns']:>6} {r['per_s']:>7.1f} {r['p50']:>7.1f} "
                     f"{r['p95']:>7.1f} {r['p99']:>7.1f} {r['mean']:>8.1f}"
                     + "".join(f" {r['cpu'][n]:>12.1f}" for n in names))
    if names:
        lines.append("cpu:NAME = CPU ms that process (with its child processes) spent per turn; "
                     "client = this load generator")
    return "\n".join(lines)


@contextmanager
def tmp_removed(path: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def rasa_stores(kind: str, redis: str, pg_admin_url: str) -> Iterator[str]:
    """The endpoints.yml lines for Rasa's tracker and lock stores; a PostgreSQL database lives as long as this."""
    if kind == "memory":
        yield ""
        return
    host, _, port = redis.partition(":")
    prefix = f"bench{uuid.uuid4().hex[:8]}"  # Rasa accepts only letters and digits here
    redis_store = f"  type: redis\n  url: {host}\n  port: {port or 6379}\n  key_prefix: {prefix}\n"
    lock_store = f"lock_store:\n{redis_store}"
    if kind == "redis":
        yield f"tracker_store:\n{redis_store}  record_exp: 3600\n{lock_store}"
        return
    from sqlalchemy import make_url, text

    from referrals.db import make_engine

    db_name = f"bench_tracker_{uuid.uuid4().hex[:8]}"
    pg = make_url(pg_admin_url)
    admin = make_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    try:
        password = f"  password: {json.dumps(pg.password)}\n" if pg.password else ""
        yield (f"tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: {pg.host or '127.0.0.1'}\n"
               f"  port: {pg.port or 5432}\n  username: {pg.username or 'postgres'}\n{password}  db: {db_name}\n"
               f"{lock_store}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=120, help="conversations per run (default 120)")
    parser.add_argument("--concurrency", default="1,20", metavar="N,N",
                        help="concurrent conversations, one run per level and path (default 1,20)")
    parser.add_argument("--rasa-workers", type=int, default=1,
                        help="Sanic workers (processes) of the Rasa server (default 1); above 1 needs --stores "
                             "redis or postgresql")
    parser.add_argument("--stores", choices=("memory", "redis", "postgresql"), default="memory",
                        help="where Rasa keeps conversations: memory (default, as `make run`); redis (trackers and "
                             "locks in Redis); postgresql (trackers in a throwaway PostgreSQL database, locks in "
                             "Redis). The last two are Rasa's documented way to run several Rasa processes")
    parser.add_argument("--redis", default="127.0.0.1:6379", metavar="HOST:PORT",
                        help="Redis for --stores redis/postgresql (default 127.0.0.1:6379); keys get a per-run "
                             "prefix; stored conversations expire after an hour")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL,
                        help="PostgreSQL that may create and drop the throwaway tracker database "
                             "(default: TEST_PG_ADMIN_URL or %(default)s)")
    args = parser.parse_args()
    if args.rasa_workers > 1 and args.stores == "memory":
        parser.error("--rasa-workers above 1 needs --stores redis or postgresql: Rasa runs one worker "
                     "with its in-memory stores")
    levels = [int(n) for n in args.concurrency.split(",")]
    from cryptography.fernet import Fernet

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    settings = Settings.from_env({**os.environ, "DATABASE_URL": url})
    rasa_env = {"SANIC_WORKERS": str(args.rasa_workers)}
    print(f"[bench] starting Rasa ({args.rasa_workers} worker(s), {args.stores} stores), the action server and "
          f"the gateway (about 30 s)...", file=sys.stderr)
    load_before = os.getloadavg()
    with tmp_removed(tmp), rasa_stores(args.stores, args.redis, args.pg_admin_url) as endpoints_extra, \
            running_stack(settings, log=lambda m: print(m, file=sys.stderr), endpoints_extra=endpoints_extra,
                          rasa_env=rasa_env) as stack:
        ACTIONS_SECRET["value"] = stack.actions_secret
        gw = start_gateway(stack, {"TWILIO_AUTH_TOKEN": TOKEN, "VAULT_KEY": Fernet.generate_key().decode(),
                                   "RATE_LIMIT_NUMBER": "0/0"}, log_name="gateway-bench")
        try:
            rows = []
            targets = {"gateway": gw.url + "/sms", "rasa direct": stack.rasa_url + "/webhooks/rest/webhook"}
            actions, rasa = stack.processes
            pids = {"rasa": rasa.pid, "actions": actions.pid, "gateway": gw.proc.pid}
            asyncio.run(run("rasa direct", targets["rasa direct"], 6, 2))  # warm up both paths
            asyncio.run(run("gateway", targets["gateway"], 6, 2))
            for concurrency in levels:
                n = args.conversations if concurrency > 1 else max(12, args.conversations // 6)
                for kind in ("rasa direct", "gateway"):
                    rows.append(asyncio.run(run(kind, targets[kind], n, concurrency, pids)))
                    print(f"[bench] {kind} at {concurrency}: done", file=sys.stderr)
        finally:
            stop_gateway(gw)
    print()
    print(f"Rasa workers: {args.rasa_workers}, {args.stores} stores; load average of the machine (1 min) "
          f"before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(table(rows))
    print()
    for r in rows:
        if r["concurrency"] > 1 and r["cpu"].get("rasa"):
            print(f"{r['path']} at {r['concurrency']}: Rasa busy {r['cpu']['rasa'] * r['per_s'] / 10:.0f}% of one CPU; "
                  f"all four processes {sum(r['cpu'].values()) * r['per_s'] / 10:.0f}%")
    for concurrency in levels:
        direct = next(r for r in rows if r["path"] == "rasa direct" and r["concurrency"] == concurrency)
        gate = next(r for r in rows if r["path"] == "gateway" and r["concurrency"] == concurrency)
        print(f"gateway overhead at {concurrency:>2} concurrent: p50 {gate['p50'] - direct['p50']:+.1f} ms "
              f"({(gate['p50'] / direct['p50'] - 1) * 100:+.1f}%), p95 {(gate['p95'] / direct['p95'] - 1) * 100:+.1f}%, "
              f"throughput {(gate['per_s'] / direct['per_s'] - 1) * 100:+.1f}%")
    print("targets at 20 concurrent: >= 100 msg/s, p95 <= 200 ms, gateway overhead < 5%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
