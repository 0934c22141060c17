"""Benchmark: complete SMS turns through the gateway, single stack and scaled-out side by side.

    make bench            (or: .venv/bin/python scripts/bench_gateway.py [--conversations N]
                           [--concurrency 1,20] [--only single|scaled])
    .venv/bin/python scripts/bench_gateway.py --memory 3000     memory over 3,000 conversations, cost
                                                               of the 5th and the 200th turn
    .venv/bin/python scripts/bench_gateway.py --cost            only the cost of the 5th and the 200th
                                                               turn of long conversations (about 3 min);
                                                               RASA_CHECKPOINT_EVENTS=1000000000 before it
                                                               gives the figures without new sessions

Topologies: "single" = one Rasa, one action server, one gateway on SQLite (as `make run`); "scaled" =
HAProxy in front of two gateways and two Rasa servers (PostgreSQL tracker store, Redis lock store),
two action servers (bot/scaleout.py, which tests/test_scaleout.py starts too). The older "rasa direct" comparison:
git history of this file.

Each topology plays the same scripted conversations (English and Spanish, each to a stored referral) as
signed Twilio webhooks at 1 and at 20 concurrent conversations, with no pause between turns, and
prints msg/s, p50/p95/p99 latency and the CPU each process spent per turn (read from /proc, Linux
only), then what N cores would give at that CPU cost. Everything runs on this machine, load generator
included; on a shared machine the CPU per turn is the steadier figure (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
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
from bot.scaleout import topology  # noqa: E402
from bot.stack import PG_ADMIN_URL, running_stack, start_gateway, stop_gateway  # noqa: E402
from referrals.config import Settings  # noqa: E402

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


def process_cpu_ns(pid: int) -> int:
    """CPU nanoseconds of a process's live threads and of its descendants (/proc/<pid>/task/*/schedstat):
    finer than /proc/<pid>/stat's 10 ms ticks, for figures of a few milliseconds per turn."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(process_cpu_ns(int(c)) for c in children)


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


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MB (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return kb / 1024 + sum(rss_mb(int(c)) for c in children)


def combined(rows: list[dict], label: str) -> None:
    for r in rows:
        r["topology"] = label


def cores_line(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        total = sum(v for k, v in r["cpu"].items() if k != "client")
        if total:
            n = ", ".join(f"{c} cores ~{c * 1000 / total:.0f} msg/s" for c in (2, 4, 8))
            out.append(f"{r['topology']:<7} at {r['concurrency']:>2}: {total:.0f} CPU ms per turn in all processes "
                       f"-> {n} (CPU-bound ceiling, load generator excluded)")
    return out


def table_with_topology(rows: list[dict]) -> str:
    names = sorted({n for r in rows for n in r["cpu"]}, key=lambda n: (n == "client", n))
    head = (f"{'topology':<8} {'conc':>4} {'turns':>6} {'msg/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
            + "".join(f" {'cpu:' + n:>11}" for n in names))
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['topology']:<8} {r['concurrency']:>4} {r['turns']:>6} {r['per_s']:>7.1f} {r['p50']:>7.1f} "
                     f"{r['p95']:>7.1f} {r['p99']:>7.1f}"
                     + "".join(f" {r['cpu'][n]:>11.1f}" if n in r["cpu"] else f" {'-':>11}" for n in names))
    lines.append("cpu:NAME = CPU ms per turn of that process (scaled: both replicas added up); client = load generator")
    return "\n".join(lines)


async def short_conversations(url: str, n: int, concurrency: int = 10) -> None:
    await run("gateway", url, n, concurrency)


# One long conversation each (--cost, and first in --memory): CPU per turn around the 5th and the last turn.
LONG_SCRIPTS = {
    # Back at rest after each "start over" and greeting: a new session starts once a session holds more than
    # RASA_CHECKPOINT_EVENTS events (scripts/rasa_run.py, checkpoint_long_sessions).
    "at rest between needs": ["i need a job", "47104", "start over", "hi"],
    # Never leaves the questions: a different need restarts them every other message, so the form is always
    # active and no new session is started (the only case where a turn's cost still grows).
    "never leaves the questions": ["i need a job", "47104", "i want to save money", "47101"],
}


def long_conversation_cost(url: str, pids: dict[str, int], script: list[str], turns: int) -> dict[str, tuple[float, float]]:
    """Signed SMS turns of one resident; per process, mean CPU ms per turn over the 8 turns around the 5th
    and around the last turn (two passes of a 4-message script), and the same for wall time."""
    phone = "+1555" + str(uuid.uuid4().int)[:7]
    per_turn: list[dict[str, float]] = []

    async def play() -> None:
        validator = RequestValidator(TOKEN)
        async with aiohttp.ClientSession() as session:
            for i in range(turns):
                form = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": phone,
                        "To": "+15550100000", "Body": script[i % len(script)], "NumMedia": "0"}
                sig = validator.compute_signature(url, form)
                cpu0 = {n: process_cpu_ns(p) for n, p in pids.items()}
                t0 = time.perf_counter()
                async with session.post(url, data=form, headers={"X-Twilio-Signature": sig}) as resp:
                    await resp.read()
                row = {n: (process_cpu_ns(p) - cpu0[n]) / 1e6 for n, p in pids.items()}
                row["wall"] = (time.perf_counter() - t0) * 1000
                per_turn.append(row)
    asyncio.run(play())

    def window(center: int, name: str) -> float:
        lo, hi = max(0, center - 4), min(turns, center + 4)
        return statistics.fmean(r[name] for r in per_turn[lo:hi])
    return {name: (window(4, name), window(turns - 4, name)) for name in [*pids, "wall"]}


def print_cost(label: str, turns: int, cost: dict[str, tuple[float, float]]) -> None:
    names = [n for n in cost if n != "wall"]
    total = (sum(cost[n][0] for n in names), sum(cost[n][1] for n in names))
    print(f"One conversation of {turns} turns, {label} (mean of 8 turns around each point):")
    print(f"  {'':<16}" + "".join(f" {'cpu:' + n:>12}" for n in names) + f" {'cpu:all':>10} {'wall ms':>9}")
    for i, where in enumerate(("around turn 5", f"around turn {turns}")):
        print(f"  {where:<16}" + "".join(f" {cost[n][i]:>12.1f}" for n in names)
              + f" {total[i]:>10.1f} {cost['wall'][i]:>9.1f}")
    print(f"  {'change':<16}" + "".join(f" {(cost[n][1] / cost[n][0] - 1) * 100 if cost[n][0] else 0:>+11.0f}%"
                                          for n in names)
          + f" {(total[1] / total[0] - 1) * 100:>+9.0f}% {(cost['wall'][1] / cost['wall'][0] - 1) * 100:>+8.0f}%",
          flush=True)


def memory_and_cost(args, settings: Settings) -> int:
    """3,000 distinct conversations: resident memory of each process after warm-up and at the end; first,
    long conversations: CPU per turn around the 5th and the last turn (only those with --cost)."""
    from cryptography.fernet import Fernet

    # RASA_CHECKPOINT_EVENTS from this environment goes to Rasa (e.g. 1000000000: no new sessions, as before).
    extra = {k: os.environ[k] for k in ("RASA_CHECKPOINT_EVENTS",) if k in os.environ}
    with running_stack(settings, log=lambda m: print(m, file=sys.stderr), rasa_env=extra) as stack:
        gw = start_gateway(stack, {"TWILIO_AUTH_TOKEN": TOKEN, "RATE_LIMIT_NUMBER": "0/0", "RATE_LIMIT_ADDRESS": "0/0", "VAULT_KEY": Fernet.generate_key().decode()},
                           log_name="gateway-bench")
        try:
            actions, rasa = stack.processes
            pids = {"rasa": rasa.pid, "actions": actions.pid, "gateway": gw.proc.pid}
            url = gw.url + "/sms"
            print(f"RASA_CHECKPOINT_EVENTS={extra.get('RASA_CHECKPOINT_EVENTS', 'default (100)')}; CPU ms per turn "
                  "of each process (its threads and children), read from /proc/<pid>/task/*/schedstat")
            for label, script in LONG_SCRIPTS.items():
                print_cost(label, args.long_turns, long_conversation_cost(url, pids, script, args.long_turns))
            if args.cost:
                return 0

            # Then many distinct residents, each a short conversation; memory printed as it goes.
            SCRIPTS[:] = [["hi", "i need a job"], ["hola", "quiero ahorrar"], ["i want to start saving money"]]
            warm = max(300, args.memory // 10)
            asyncio.run(run("gateway", url, warm, 10))
            before = {n: rss_mb(p) for n, p in pids.items()}
            print()
            print(f"Resident memory (MB) over {args.memory} distinct conversations after {warm} for warm-up:")
            print(f"{'after N':>8} " + " ".join(f"{n:>9}" for n in pids) + "   growth since warm-up")
            print(f"{0:>8} " + " ".join(f"{before[n]:>9.1f}" for n in pids), flush=True)
            step, done = max(1, args.memory // 10), 0
            while done < args.memory:
                k = min(step, args.memory - done)
                asyncio.run(run("gateway", url, k, 10))
                done += k
                rss = {n: rss_mb(p) for n, p in pids.items()}
                print(f"{done:>8} " + " ".join(f"{rss[n]:>9.1f}" for n in pids) + "   "
                      + " ".join(f"{(rss[n] / before[n] - 1) * 100:>+6.1f}%" for n in pids), flush=True)
        finally:
            stop_gateway(gw)
    return 0


class _Skip(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=60, help="conversations per run (default 60)")
    parser.add_argument("--concurrency", default="1,20", metavar="N,N",
                        help="concurrent conversations, one run per level and topology (default 1,20)")
    parser.add_argument("--only", choices=("single", "scaled"), help="run one topology only")
    parser.add_argument("--memory", type=int, default=0, metavar="N",
                        help="instead: N distinct conversations (e.g. 3000) with each process's resident memory, "
                             "then one long conversation (--long-turns) with the cost of its 5th and last turns")
    parser.add_argument("--long-turns", type=int, default=200)
    parser.add_argument("--cost", action="store_true",
                        help="instead: only the long conversations (--long-turns) with the CPU of each process "
                             "around their 5th and last turns")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL,
                        help="PostgreSQL where the scaled topology gets a throwaway database "
                             "(default: TEST_PG_ADMIN_URL or %(default)s)")
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack it started, as Ctrl-C does
    levels = [int(n) for n in args.concurrency.split(",")]
    from cryptography.fernet import Fernet

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = Settings.from_env({**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"})
    if args.memory or args.cost:
        with tmp_removed(tmp):
            return memory_and_cost(args, settings)
    load_before = os.getloadavg()
    rows: list[dict] = []

    def play(label: str, url: str, pids: dict[str, list[int]]) -> None:
        asyncio.run(run("gateway", url, 6, 2))  # warm up
        flat = {f"{name}#{i}": pid for name, ps in pids.items() for i, pid in enumerate(ps)}
        for concurrency in levels:
            n = args.conversations if concurrency > 1 else max(12, args.conversations // 6)
            r = asyncio.run(run("gateway", url, n, concurrency, flat))
            cpu: dict[str, float] = {}
            for key, v in r["cpu"].items():
                name = key.split("#")[0]
                cpu[name] = cpu.get(name, 0.0) + v
            r["cpu"] = cpu
            r["topology"] = label
            rows.append(r)
            print(f"[bench] {label} at {concurrency}: done", file=sys.stderr)

    with tmp_removed(tmp):
        if args.only != "scaled":
            print("[bench] single stack: one Rasa, one action server, one gateway; SQLite (as make run)",
                  file=sys.stderr)
            with running_stack(settings, log=lambda m: print(m, file=sys.stderr)) as stack:
                gw = start_gateway(stack, {"TWILIO_AUTH_TOKEN": TOKEN, "RATE_LIMIT_NUMBER": "0/0", "RATE_LIMIT_ADDRESS": "0/0", "VAULT_KEY": Fernet.generate_key().decode()},
                                   log_name="gateway-bench")
                try:
                    actions, rasa = stack.processes
                    play("single", gw.url + "/sms", {"rasa": [rasa.pid], "actions": [actions.pid],
                                                      "gateway": [gw.proc.pid]})
                finally:
                    stop_gateway(gw)
        if args.only != "single":
            print("[bench] scaled: HAProxy, 2 gateways, 2 Rasa (PostgreSQL tracker store, Redis locks), "
                  "2 action servers", file=sys.stderr)
            from sqlalchemy import text

            from referrals.db import make_engine
            from referrals.store import upgrade

            db = f"bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{db}"'))
            except Exception as exc:  # no PostgreSQL here: say so, print what was measured
                print(f"[bench] scaled topology skipped: no PostgreSQL at {args.pg_admin_url} "
                      f"({type(exc).__name__})", file=sys.stderr)
                args.only = "single"
            db_url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + db
            try:
                if args.only == "single":
                    raise _Skip
                upgrade(db_url)
                model = __import__("bot.stack", fromlist=["ensure_model"]).ensure_model()
                with topology(model, db_url, args.redis, {"TWILIO_AUTH_TOKEN": TOKEN, "RATE_LIMIT_NUMBER": "0/0", "RATE_LIMIT_ADDRESS": "0/0"}) as sc:
                    play("scaled", sc.url + "/sms", {
                        "rasa": [p.pid for p in sc.rasas], "actions": [p.pid for p in sc.actions],
                        "gateway": [g.proc.pid for g in sc.gateways], "haproxy": [sc.haproxy.pid]})
            except _Skip:
                pass
            except RuntimeError as exc:  # no haproxy
                print(f"[bench] scaled topology skipped: {exc}", file=sys.stderr)
            finally:
                if args.only != "single":
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                admin.dispose()
    print()
    print(f"load average of the machine (1 min) before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs; every process and the load generator share them")
    print(table_with_topology(rows))
    print()
    for line in cores_line(rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
