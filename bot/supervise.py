"""`python -m bot run`: the three processes under supervisord (Supervisor 4.3, from PyPI).

Why supervisord and not a loop of our own: it restarts a process that dies (`autorestart`), waits a
little longer after each failed start (`startretries`, its built-in backoff), stops a process with its
whole process group (`stopasgroup`, `killasgroup`: no orphaned children) and reaps what exits (no
zombies). `bot run` trains if needed, prepares the databases, refuses to start when a port is held
(and says by which process), writes `var/run/supervisord-<gateway port>.conf` (mode 0600: it holds each process's
settings) and runs supervisord in the foreground. Ctrl-C or SIGTERM stops everything.

Each process gets only the settings it needs; no secret is on a command line. While it runs:
`.venv/bin/supervisorctl -c var/run/supervisord-8080.conf status` shows the processes.
Production uses systemd units instead (deploy/systemd/, docs/operations.md).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from referrals.config import ROOT, SETTINGS, Settings

SUPERVISORD = [sys.executable, "-m", "supervisor.supervisord"]
# The gateway needs everything but the portal's and the directory loader's settings.
GATEWAY_SKIP = ("PORTAL_HOST", "PORTAL_PORT", "PORTAL_TRUST_PROXY", "PASSWORD_HASH_PROFILE", "DIRECTORY_FILE",
                "NEIGHBORHOODS_FILE", "AREA_MEDIAN_INCOME", "TWILIO_API_BASE")


def port_holder(port: int) -> str:
    """Which process listens on `port` (pid and program name; never its command line, it may hold secrets)."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                try:
                    return f"process {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"process {conn.pid}"
    except Exception:  # no permission to list sockets: say what we know
        pass
    return "another process"


def busy_ports(ports: dict[str, tuple[str, int]]) -> list[str]:
    """One line per port in `ports` (name -> (host, port)) that cannot be bound now."""
    problems = []
    for name, (host, port) in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
            try:
                s.bind((host, port))
            except OSError:
                problems.append(f"port {port} ({name}) is already in use by {port_holder(port)}")
    return problems


def _quote(value: str) -> str:
    # supervisord interpolates %(...)s in its config and parses environment= like a shell would.
    return '"' + value.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"') + '"'


def _program(name: str, command: list[str], env: dict[str, str], log: Path, priority: int, startsecs: int,
             stopwaitsecs: int = 20) -> str:
    environment = ",".join(f"{k}={_quote(v)}" for k, v in sorted(env.items()))
    cmd = " ".join(c.replace("%", "%%") for c in command)
    return f"""
[program:{name}]
command={cmd}
directory={ROOT}
environment={environment}
priority={priority}
autostart=true
autorestart=true
startsecs={startsecs}
startretries=10
stopsignal=TERM
stopwaitsecs={stopwaitsecs}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={log}
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=3
"""


def supervisord_conf(settings: Settings, model: Path, tracker_url: str, run_dir: Path, tag: str) -> str:
    from bot.stack import (actions_command, actions_env, base_env, rasa_command, rasa_env, write_endpoints)

    rasa_port = urlparse(settings["RASA_URL"]).port or 5005
    actions_port = int(settings["ACTIONS_PORT"])
    endpoints = write_endpoints(run_dir, rasa_port, f"http://127.0.0.1:{actions_port}", settings["REDIS_URL"])
    rasa_log = run_dir / f"rasa-{rasa_port}.log"
    gateway_env = {**base_env(), "PYTHONUNBUFFERED": "1", "TRACKER_STORE_URL": tracker_url,
                   "ACTIONS_URL": settings["ACTIONS_URL"] or f"http://127.0.0.1:{actions_port}",
                   **{s.name: settings[s.name] for s in SETTINGS if s.name not in GATEWAY_SKIP
                      and s.name not in ("TRACKER_STORE_URL", "ACTIONS_URL")}}
    gateway_env = {k: v for k, v in gateway_env.items() if v != ""}
    return f"""; Written by `python -m bot run` at each start; do not edit (mode 0600: it holds settings).
[supervisord]
nodaemon=true
logfile={run_dir / f'supervisord-{tag}.log'}
logfile_maxbytes=10MB
logfile_backups=3
pidfile={run_dir / f'supervisord-{tag}.pid'}
childlogdir={run_dir}
loglevel=info

[unix_http_server]
file={run_dir / f'supervisor-{tag}.sock'}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{run_dir / f'supervisor-{tag}.sock'}
""" + _program("actions", actions_command(actions_port), actions_env(settings),
               run_dir / f"actions-{actions_port}.log", 10, 3) \
        + _program("rasa", rasa_command(model, rasa_port, endpoints, rasa_log),
                   {**rasa_env(settings["RASA_TOKEN"], tracker_url, settings["REDIS_URL"]),
                    "ACTIONS_SECRET": settings["ACTIONS_SECRET"]},
                   rasa_log.with_suffix(".out"), 20, 5, stopwaitsecs=30) \
        + _program("gateway", [sys.executable, "-m", "bot", "gateway"], gateway_env,
                   run_dir / f"gateway-{tag}.log", 30, 3)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """supervisord stops its programs if `bot run` itself is killed (Linux: PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def run(settings: Settings, log=print) -> int:
    from bot.stack import RUN_DIR, StackError, base_env, ensure_model, prepare_stores

    if not settings["RASA_TOKEN"]:
        log("[run] RASA_TOKEN is not set: run scripts/setup.sh (make setup) or set it", file=sys.stderr)
        return 2
    if len(settings["ACTIONS_SECRET"]) < 16:
        log("[run] ACTIONS_SECRET is not set: run scripts/setup.sh (make setup) or set it", file=sys.stderr)
        return 2
    rasa_port = urlparse(settings["RASA_URL"]).port or 5005
    actions_port = int(settings["ACTIONS_PORT"])
    gateway = (settings["GATEWAY_HOST"], int(settings["GATEWAY_PORT"]))
    problems = busy_ports({"Rasa server": ("127.0.0.1", rasa_port), "action server": ("127.0.0.1", actions_port),
                           "gateway": gateway})
    if problems:
        for p in problems:
            log(f"[run] cannot start: {p}", file=sys.stderr)
        log("[run] stop it first (or set RASA_URL, ACTIONS_PORT, GATEWAY_PORT to free ports)", file=sys.stderr)
        return 1
    try:
        model = ensure_model(lambda m: log(m, file=sys.stderr))
        tracker_url = prepare_stores(settings)
    except StackError as exc:
        log(f"[run] {exc}", file=sys.stderr)
        return 1
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    tag = str(gateway[1])  # one set of files per gateway port: two stacks on one machine do not collide
    conf = RUN_DIR / f"supervisord-{tag}.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(supervisord_conf(settings, model, tracker_url, RUN_DIR, tag))
    os.chmod(conf, 0o600)
    # supervisord starts from a bare environment: its programs get only what their sections give them.
    sup = subprocess.Popen([*SUPERVISORD, "-n", "-c", str(conf)], cwd=ROOT, env=base_env(),
                           preexec_fn=_die_with_parent)

    stopping = False

    def stop(_sig, _frame):
        nonlocal stopping
        if not stopping and sup.poll() is None:
            stopping = True
            sup.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    base = f"http://{gateway[0]}:{gateway[1]}"
    checks = {"action server": f"http://127.0.0.1:{actions_port}/health",
              "Rasa server": f"http://127.0.0.1:{rasa_port}/",
              "gateway": f"{base}/healthz"}
    deadline = time.monotonic() + 240
    while not stopping and sup.poll() is None and time.monotonic() < deadline:
        if all(_up(u) for u in checks.values()):
            break
        time.sleep(0.5)
    else:
        if not stopping and sup.poll() is None:
            log(f"[run] not everything answered within 240 s; see {RUN_DIR}/*.log (still trying)", file=sys.stderr)
    if not stopping and sup.poll() is None:
        from bot.__main__ import _safe_url

        for line in (
            f"web chat:        {base}/  (open it in a browser)",
            f"SMS webhook:     {base}/sms  ("
            + ("TWILIO_AUTH_TOKEN set" if settings["TWILIO_AUTH_TOKEN"] else "refuses all: TWILIO_AUTH_TOKEN not set")
            + "; see README 'Connect a Twilio number')",
            f"health:          {base}/healthz",
            f"Rasa server:     http://127.0.0.1:{rasa_port} (loopback only)",
            f"action server:   http://127.0.0.1:{actions_port} (loopback only)",
            f"database:        {_safe_url(settings.database_url)}",
            f"conversations:   {_safe_url(tracker_url)}",
            f"supervisor:      .venv/bin/supervisorctl -c {conf.relative_to(ROOT)} status",
            "terminal chat:   make shell   |   stop: Ctrl-C",
        ):
            log(f"[run] {line}")
    while True:
        try:
            code = sup.wait(timeout=60 if stopping else None)
            break
        except subprocess.TimeoutExpired:  # supervisord did not stop in time: last resort
            sup.kill()
    log("\n[run] stopped")
    return 0 if stopping else (code or 1)
