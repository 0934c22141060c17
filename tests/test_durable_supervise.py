"""`python -m bot run` under supervisord: a process that dies comes back, SIGTERM stops everything
(children included), held ports are refused with the holder named, and no child gets a secret it
does not need or sees one on a command line (issues 11 and 14). The real command, as a resident's
city runs it, on free ports and a fresh SQLite database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
from cryptography.fernet import Fernet

from bot.stack import RUN_DIR, free_port
from bot.supervise import busy_ports
from referrals.config import ROOT


def run_env(tmp_path: Path, **ports: int) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'riverbend.db'}",
            "RASA_URL": f"http://127.0.0.1:{ports['rasa']}", "ACTIONS_PORT": str(ports["actions"]),
            "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(ports["gateway"]),
            "RASA_TOKEN": "rasa-token-" + uuid.uuid4().hex, "PSEUDONYM_KEY": "pseudonym-" + uuid.uuid4().hex,
            "VAULT_KEY": Fernet.generate_key().decode(), "TWILIO_AUTH_TOKEN": "twilio-" + uuid.uuid4().hex,
            "ACTIONS_SECRET": "actions-secret-" + uuid.uuid4().hex}


def health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, OSError):
        return 0, {}


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        status, body = health(url)
        if status == 200:
            return body
        time.sleep(1)
    raise AssertionError(f"not healthy within {timeout} s: {body}\n{log.read_text()[-3000:]}")


def child(tree: list[psutil.Process], marker: str) -> psutil.Process:
    found = [p for p in tree if marker in " ".join(p.cmdline())]
    assert len(found) == 1, [p.cmdline() for p in tree]
    return found[0]


def test_run_refuses_to_start_when_a_port_is_held_and_says_by_what(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        env = run_env(tmp_path, rasa=free_port(), actions=free_port(), gateway=port)
        result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1
        assert f"port {port} (gateway) is already in use by process {os.getpid()}" in result.stderr, result.stderr
        assert "supervisord" not in result.stdout and not (tmp_path / "riverbend.db").exists(), "nothing started"
    finally:
        holder.close()


def test_run_restarts_what_dies_and_stops_everything_on_sigterm(model, tmp_path):
    ports = {"rasa": free_port(), "actions": free_port(), "gateway": free_port()}
    env = run_env(tmp_path, **ports)
    url = f"http://127.0.0.1:{ports['gateway']}"
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    log = RUN_DIR / f"bot-run-{ports['gateway']}.log"
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    seen: list[psutil.Process] = []
    try:
        body = wait_healthy(url, proc, 300, log)
        assert body["rasa"] == body["actions"] == body["database"] == body["conversations"] == "ok"
        tree = psutil.Process(proc.pid).children(recursive=True)
        seen += tree
        rasa, actions, gateway = child(tree, "rasa_run.py"), child(tree, "actions.server"), child(tree, "bot gateway")

        # No secret on any command line (ps shows those to every local user).
        secrets = [env[k] for k in ("RASA_TOKEN", "PSEUDONYM_KEY", "VAULT_KEY", "TWILIO_AUTH_TOKEN", "ACTIONS_SECRET")]
        for p in tree:
            assert not any(s in " ".join(p.cmdline()) for s in secrets), p.cmdline()
        # Each process gets only the settings it needs.
        assert not {"PSEUDONYM_KEY", "VAULT_KEY", "TWILIO_AUTH_TOKEN", "DATABASE_URL"} & set(rasa.environ())
        assert not {"PSEUDONYM_KEY", "VAULT_KEY", "TWILIO_AUTH_TOKEN", "RASA_TOKEN", "RASA_AUTH_TOKEN"} \
            & set(actions.environ())
        assert gateway.environ()["VAULT_KEY"] == env["VAULT_KEY"]
        conf = RUN_DIR / f"supervisord-{ports['gateway']}.conf"
        assert oct(conf.stat().st_mode & 0o777) == "0o600"

        # kill -9 of the action server and of Rasa: both come back by themselves, on the same ports.
        # The action server is back within a second or two, so health is asked at once; Rasa takes far
        # longer to load its model, so it is the one seen missing. The new PIDs below show both restarted.
        actions.kill()
        rasa.kill()
        status, body = health(url)
        assert status == 503 and body["rasa"] == "unavailable", body
        body = wait_healthy(url, proc, 240, log)
        tree = psutil.Process(proc.pid).children(recursive=True)
        seen += tree
        assert child(tree, "actions.server").pid != actions.pid and child(tree, "rasa_run.py").pid != rasa.pid
        assert not actions.is_running() and not rasa.is_running(), "the killed ones left nothing behind"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == 0
    for p in seen:  # every process of the stack is gone: no orphan still serving, no zombie
        assert not p.is_running(), (p.pid, p.status() if p.is_running() else None)
    assert busy_ports({name: ("127.0.0.1", port) for name, port in ports.items()}) == [], "the ports are free"
    assert "[run] stopped" in log.read_text()
