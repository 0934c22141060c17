"""The scaled topology on one machine (issue 11; docs/performance.md): HAProxy (Debian's package) in front
of two gateways and of two Rasa servers; both Rasa servers on the PostgreSQL tracker store and the Redis
lock store; two action servers; the gateways keep their per-conversation state in Redis.

Started by tests/test_scaleout.py (turns on alternating replicas, a Rasa killed mid-conversation) and by
scripts/bench_gateway.py (the "scaled" benchmark), so both measure the same thing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import text

from bot.stack import (PG_ADMIN_URL, RUN_DIR, free_port, prepare_stores, start_actions, start_gateway, start_rasa,
                       stop_gateway, wait_http)
from referrals.config import Settings
from referrals.db import make_engine

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def haproxy_config(gateway_port: int, gateways: list[int], rasa_port: int, rasas: list[int], sock: Path) -> str:
    servers_g = "\n".join(f"  server g{i} 127.0.0.1:{p} check inter 500ms fall 2 rise 1"
                          for i, p in enumerate(gateways, 1))
    servers_r = "\n".join(f"  server r{i} 127.0.0.1:{p} check inter 500ms fall 1 rise 1"
                          for i, p in enumerate(rasas, 1))
    return f"""global
  maxconn 2000
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option redispatch
  retries 3
frontend gateway
  bind 127.0.0.1:{gateway_port}
  default_backend gateways
backend gateways
  balance roundrobin
  option httpchk GET /healthz
{servers_g}
frontend rasa
  bind 127.0.0.1:{rasa_port}
  default_backend rasas
backend rasas
  balance roundrobin
  option http-buffer-request
  retry-on conn-failure empty-response response-timeout
  option httpchk GET /
{servers_r}
"""


def haproxy_served(sock: Path) -> dict[str, int]:
    """Requests each server got so far (HAProxy's `show stat`, column stot)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("svname") not in (None, "FRONTEND", "BACKEND"):
            out[row["svname"]] = int(row["stot"] or 0)
    return out


@dataclass
class Scaled:
    url: str
    rasa_url: str
    token: str
    database_url: str
    actions_url: str
    key: str
    sock: Path
    actions_secret: str = ""
    rasas: list[subprocess.Popen] = field(default_factory=list)
    actions: list[subprocess.Popen] = field(default_factory=list)
    gateways: list = field(default_factory=list)
    haproxy: subprocess.Popen | None = None
    residents: set[str] = field(default_factory=set)


def warm_up_conversation(rasa_url: str) -> None:
    """The first turns of a fresh Rasa and action server are slow (model, connections, directory):
    one throwaway conversation through each replica before residents come."""
    import json
    import urllib.request

    sender = "warmup-" + uuid.uuid4().hex
    for message in ("hi", "i need a job", "47104"):
        req = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", method="POST",
                                     data=json.dumps({"sender": sender, "message": message}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=180).close()


@contextmanager
def topology(model, database_url: str, redis_url: str = REDIS_URL, gateway_env: dict[str, str] | None = None,
             tracker_cleanup: bool = True) -> Iterator[Scaled]:
    """Two action servers, two Rasa servers (PostgreSQL tracker store, Redis lock store), two gateways
    (state in Redis), HAProxy in front of the gateways and of the Rasa servers; all stopped at the end,
    Rasa's Redis keys and the conversation database removed. Used by tests/test_scaleout.py and by `make bench`."""
    import redis

    if not shutil.which("haproxy") and not Path(HAPROXY).exists():
        raise RuntimeError("haproxy is needed for the scaled topology (apt-get install haproxy; .ci/run installs it)")
    client = redis.Redis.from_url(redis_url)
    client.ping()
    settings = Settings.from_env({**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url})
    tracker_url = prepare_stores(settings)
    token, prefix = uuid.uuid4().hex, "rbtest" + uuid.uuid4().hex[:8]
    actions_secret = uuid.uuid4().hex  # the action servers run actions only for Rasa (actions/server.py)
    procs: list[subprocess.Popen] = []
    gateways = []
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    lb_gateway, lb_rasa = free_port(), free_port()
    sock = RUN_DIR / f"haproxy-{lb_gateway}.sock"
    scaled = None
    try:
        actions_ports, rasa_ports = [free_port(), free_port()], [free_port(), free_port()]
        for port in actions_ports:
            proc, log = start_actions(settings, port, RUN_DIR, actions_secret)
            procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/health", proc, 60, "action server", log)
        rasas = []
        for port, actions_port in zip(rasa_ports, actions_ports):
            proc, log = start_rasa(model, port, actions_port, token, RUN_DIR, tracker_store_url=tracker_url,
                                   redis_url=redis_url, lock_prefix=prefix,
                                   env_extra={"ACTIONS_SECRET": actions_secret})
            procs.append(proc)
            rasas.append((proc, port, log))
        for proc, port, log in rasas:
            wait_http(f"http://127.0.0.1:{port}/status?token={token}", proc, 600, "Rasa server", log)
            warm_up_conversation(f"http://127.0.0.1:{port}")
        gateway_ports = []
        cfg = RUN_DIR / f"haproxy-{lb_gateway}.cfg"
        scaled = Scaled(url=f"http://127.0.0.1:{lb_gateway}", rasa_url=f"http://127.0.0.1:{lb_rasa}", token=token,
                        database_url=database_url, actions_url=f"http://127.0.0.1:{actions_ports[0]}",
                        key=uuid.uuid4().hex * 2, sock=sock, actions_secret=actions_secret, rasas=[r[0] for r in rasas], actions=procs[:2])
        env = {"REDIS_URL": redis_url, "PSEUDONYM_KEY": scaled.key,
               "PUBLIC_BASE_URL": scaled.url, "RASA_TIMEOUT": "12", **(gateway_env or {})}
        for i in range(2):
            gw = start_gateway(scaled, env, log_name=f"gateway-scaled{i}")
            gateways.append(gw)
            gateway_ports.append(int(gw.url.rsplit(":", 1)[1]))
        scaled.gateways = gateways
        cfg.write_text(haproxy_config(lb_gateway, gateway_ports, lb_rasa, rasa_ports, sock))
        lb = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=(RUN_DIR / "haproxy.log").open("ab"),
                              stderr=subprocess.STDOUT)
        procs.append(lb)
        scaled.haproxy = lb
        wait_http(f"{scaled.url}/", lb, 30, "haproxy", RUN_DIR / "haproxy.log")
        yield scaled
    finally:
        for gw in gateways:
            stop_gateway(gw)
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for k in client.scan_iter(f"{prefix}*"):  # Rasa's lock keys of this run
            client.delete(k)
        if scaled is not None:
            for who in scaled.residents:  # the gateways' state of these residents
                client.delete(f"riverbend:state:{who}")
        if tracker_cleanup:
            admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                name = tracker_url.rsplit("/", 1)[1]
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
