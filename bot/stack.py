"""Starting the assistant's processes: train if needed, migrate, then the action server and Rasa.

Used by `python -m bot run` (the README's run command), by `python -m bot triage`, and by the test
suite, so all three start the stack the same way. The test suite and the benchmarks also start the gateway
as a child process here (`start_gateway`; the scaled topology is bot/scaleout.py). Rasa lives in .venv-rasa
and is only ever run as a subprocess; nothing here imports it.

Why a content hash names the model: training takes about a minute, so a model is reused as long as
config.yml, domain.yml and data/ are unchanged, across runs and test sessions alike.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from referrals.config import ROOT, Settings

RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
# `rasa run` goes through this launcher: same arguments, one speed fix (see the script and docs/performance.md).
RASA_RUN = [str(ROOT / ".venv-rasa" / "bin" / "python"), str(ROOT / "scripts" / "rasa_run.py")]
MODELS = ROOT / "models"
RUN_DIR = ROOT / "var" / "run"
TRAINING_INPUTS = ("config.yml", "domain.yml", "data")


class StackError(RuntimeError):
    """A process of the stack could not be started; the message says what to do."""


def training_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(root)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def ensure_model(log=print) -> Path:
    """The trained model for the current training data, training it first if there is none."""
    if not RASA_BIN.exists():
        raise StackError(f"{RASA_BIN} not found: run scripts/setup.sh first (make setup)")
    name = f"nlu-core-{training_hash()}"
    model = MODELS / f"{name}.tar.gz"
    if model.exists():
        return model
    MODELS.mkdir(exist_ok=True)
    # Several processes (a test run, `make run`, a benchmark) may need the same model at once: one
    # trains, the others wait for it instead of training it again.
    with open(MODELS / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if model.exists():
            return model
        return _train(name, model, log)


def _train(name: str, model: Path, log) -> Path:
    log(f"[stack] training the Rasa model ({name}); this takes about a minute")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=MODELS, prefix=".training-") as out:
        result = subprocess.run(
            [str(RASA_BIN), "train", "--fixed-model-name", name, "--out", out,
             "--config", "config.yml", "--domain", "domain.yml", "--data", "data"],
            cwd=ROOT, capture_output=True, text=True, env=_rasa_env())
        built = Path(out) / model.name
        if result.returncode != 0 or not built.exists():
            raise StackError(f"rasa train failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
        os.replace(built, model)  # atomic: a model file that exists is always complete
    log(f"[stack] trained in {time.monotonic() - started:.0f} s: {model.relative_to(ROOT)}")
    return model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("PYTHONWARNINGS", "ignore")
    env["RASA_TELEMETRY_ENABLED"] = "false"
    return env


def wait_http(url: str, proc: subprocess.Popen, timeout: float, name: str, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with code {proc.returncode}; see {log_file}:\n"
                             f"{log_file.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise StackError(f"{name} did not answer {url} within {timeout:.0f} s; see {log_file}")


# Each child gets only what it needs (issue 14): the base environment, plus its own settings.
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
ACTIONS_SETTINGS = ("DATABASE_URL", "AREA_MEDIAN_INCOME", "DIRECTORY_FILE", "NEIGHBORHOODS_FILE")


def base_env() -> dict[str, str]:
    return {k: os.environ[k] for k in BASE_ENV if k in os.environ}


@dataclass
class Stack:
    """Running processes and where they listen."""

    rasa_url: str
    actions_url: str
    token: str
    database_url: str
    actions_secret: str = ""
    tracker_store_url: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)
    rasa_args: dict = field(default_factory=dict)

    @property
    def rasa(self) -> subprocess.Popen:
        return self.processes[-1]

    def restart_rasa(self, timeout: float = 480) -> None:
        """Start Rasa again on the same port and stores (after a test killed it); wait until it answers."""
        old = self.processes.pop()
        if old.poll() is None:
            old.kill()
        old.wait()
        proc, log_file = start_rasa(**self.rasa_args)
        self.processes.append(proc)
        wait_http(f"{self.rasa_url}/status?token={self.token}", proc, timeout, "Rasa server", log_file)

    def restart_actions(self, settings: Settings, timeout: float = 60) -> None:
        """Start the action server again on the same port (after a test killed it)."""
        old = self.processes[0]
        if old.poll() is None:
            old.kill()
        old.wait()
        port = int(self.actions_url.rsplit(":", 1)[1])
        proc, log_file = start_actions(settings, port, RUN_DIR, self.actions_secret)
        self.processes[0] = proc
        wait_http(f"{self.actions_url}/health", proc, timeout, "action server", log_file)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()


def actions_command(port: int) -> list[str]:
    # Our launcher of rasa-sdk (actions/server.py): one process, runs actions only with ACTIONS_SECRET.
    return [sys.executable, "-m", "actions.server", "--port", str(port), "--log-level", "WARNING"]


def actions_env(settings: Settings, actions_secret: str = "") -> dict[str, str]:
    return {**base_env(), **{k: settings[k] for k in ACTIONS_SETTINGS}, "PYTHONUNBUFFERED": "1",
            "ACTIONS_SECRET": actions_secret or settings["ACTIONS_SECRET"]}


def start_actions(settings: Settings, port: int, log_dir: Path, actions_secret: str = "") -> tuple[subprocess.Popen, Path]:
    log_file = log_dir / f"actions-{port}.log"
    proc = subprocess.Popen(actions_command(port), cwd=ROOT, env=actions_env(settings, actions_secret),
                            stdout=log_file.open("ab"), stderr=subprocess.STDOUT)
    return proc, log_file


def rasa_command(model: Path, port: int, endpoints: Path, log_file: Path) -> list[str]:
    """No secret on this command line: the token and the store URLs go in the environment."""
    return [*RASA_RUN, "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "-m", str(model),
            "--endpoints", str(endpoints), "--credentials", str(ROOT / "credentials.yml"),
            "--log-file", str(log_file)]


def rasa_env(token: str, tracker_store_url: str, redis_url: str = "") -> dict[str, str]:
    from bot.stores import rasa_tracker_url, redis_password

    env = {**base_env(), "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "PYTHONWARNINGS": "ignore", "RASA_TELEMETRY_ENABLED": "false", "RASA_AUTH_TOKEN": token}
    if tracker_store_url:
        env["RASA_TRACKER_STORE_URL"] = rasa_tracker_url(tracker_store_url)
    if redis_password(redis_url):
        env["RASA_LOCK_STORE_PASSWORD"] = redis_password(redis_url)
    return env


def write_endpoints(log_dir: Path, port: int, actions_url: str, redis_url: str = "",
                    endpoints_extra: str = "", tracker_store: bool = True, lock_prefix: str = "riverbend") -> Path:
    from bot.stores import rasa_endpoints

    endpoints = log_dir / f"endpoints-{port}.yml"
    endpoints.write_text(rasa_endpoints(actions_url, redis_url, lock_prefix, tracker_store=tracker_store)
                         + endpoints_extra)
    return endpoints


def start_rasa(model: Path, port: int, actions_port: int, token: str, log_dir: Path,
               endpoints_extra: str = "", env_extra: dict[str, str] | None = None,
               tracker_store_url: str = "", redis_url: str = "", actions_url: str = "",
               lock_prefix: str = "riverbend") -> tuple[subprocess.Popen, Path]:
    endpoints = write_endpoints(log_dir, port, actions_url or f"http://127.0.0.1:{actions_port}", redis_url,
                                endpoints_extra, tracker_store=bool(tracker_store_url), lock_prefix=lock_prefix)
    log_file = log_dir / f"rasa-{port}.log"
    proc = subprocess.Popen(
        rasa_command(model, port, endpoints, log_file), cwd=ROOT,
        env={**rasa_env(token, tracker_store_url, redis_url), **(env_extra or {})},
        stdout=log_file.with_suffix(".out").open("ab"), stderr=subprocess.STDOUT)
    return proc, log_file


def warm_up(rasa_url: str, token: str) -> None:
    """One NLU parse, so the first resident does not wait for the model's first run (seconds on a
    busy machine). Starts no conversation."""
    import json

    req = urllib.request.Request(f"{rasa_url}/model/parse?token={token}", data=json.dumps({"text": "hi"}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(req, timeout=120).close()
    except (urllib.error.URLError, OSError):
        pass


def warm_up_conversation(rasa_url: str, tracker_url: str) -> None:
    """One throwaway conversation through Rasa and the action server (their first action calls are
    slow: connections, the directory), then deleted from the conversation store."""
    import json

    from bot.stores import ConversationStore

    sender = "warmup-" + os.urandom(8).hex()
    try:
        for message in ("hi", "i need a job"):
            req = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", method="POST",
                                         data=json.dumps({"sender": sender, "message": message}).encode(),
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=120).close()
    except (urllib.error.URLError, OSError):
        pass
    store = ConversationStore(tracker_url)
    try:
        store.delete(sender)
    finally:
        store.dispose()


def prepare_stores(settings: Settings) -> str:
    """Migrate the referral database, load the directory if empty, create the conversation store's
    database if needed; the conversation store's URL."""
    from bot.stores import ensure_tracker_database, tracker_store_url
    from referrals.store import prepare

    prepare(settings).dispose()
    url = tracker_store_url(settings)
    ensure_tracker_database(url)
    return url


@contextmanager
def running_stack(settings: Settings, *, rasa_port: int | None = None, actions_port: int | None = None,
                  log=print, endpoints_extra: str = "", rasa_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Train if needed, migrate and load the directory, start actions and Rasa; stop them on exit."""
    model = ensure_model(log)
    tracker_url = prepare_stores(settings)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    rasa_port = rasa_port or free_port()
    actions_port = actions_port or free_port()
    token = settings["RASA_TOKEN"] or os.urandom(16).hex()
    actions_secret = settings["ACTIONS_SECRET"] or os.urandom(24).hex()
    stack = Stack(rasa_url=f"http://127.0.0.1:{rasa_port}", actions_url=f"http://127.0.0.1:{actions_port}",
                  token=token, database_url=settings.database_url, actions_secret=actions_secret,
                  tracker_store_url=tracker_url)
    stack.rasa_args = dict(model=model, port=rasa_port, actions_port=actions_port, token=token, log_dir=RUN_DIR,
                           endpoints_extra=endpoints_extra,
                           env_extra={**(rasa_env or {}), "ACTIONS_SECRET": actions_secret},
                           tracker_store_url=tracker_url, redis_url=settings["REDIS_URL"])
    try:
        actions, actions_log = start_actions(settings, actions_port, RUN_DIR, actions_secret)
        stack.processes.append(actions)
        rasa, rasa_log = start_rasa(**stack.rasa_args)
        stack.processes.append(rasa)
        wait_http(f"{stack.actions_url}/health", actions, 60, "action server", actions_log)
        wait_http(f"{stack.rasa_url}/status?token={token}", rasa, 480, "Rasa server", rasa_log)
        warm_up(stack.rasa_url, token)
        warm_up_conversation(stack.rasa_url, tracker_url)
        yield stack
    finally:
        stack.stop()


# --- the resident gateway, as a process in front of a running stack (tests and benchmarks) ------------
# `python -m bot run` serves the gateway in its own process; the tests and scripts/bench_gateway.py start it
# as a child process against a `Stack` (or bot/scaleout.py's `Scaled`), with a Twilio token of their own.

# Where tests and benchmarks make throwaway PostgreSQL databases.
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

TWILIO_TEST_TOKEN = "test-twilio-auth-token-0123456789"


@dataclass
class GatewayProcess:
    url: str
    env: dict[str, str]
    log_file: Path
    proc: "subprocess.Popen"
    stack: object

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")


# One vault key per database: a gateway refuses to start with a key that does not open the contacts
# already stored (referrals/keys.py), and several tests start their own gateway on the same stack.
_VAULT_KEYS: dict[str, str] = {}


def start_gateway(stack, env_extra: dict[str, str] | None = None, log_name: str = "gateway") -> GatewayProcess:
    """`python -m bot gateway` on a free port against `stack`; the caller stops it."""
    from cryptography.fernet import Fernet

    port = free_port()
    env = {**os.environ, "RASA_URL": stack.rasa_url, "RASA_TOKEN": stack.token,
           "ACTIONS_SECRET": stack.actions_secret,
           "DATABASE_URL": stack.database_url, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port),
           "ACTIONS_URL": stack.actions_url,
           "TWILIO_AUTH_TOKEN": TWILIO_TEST_TOKEN, "PUBLIC_BASE_URL": "",
           "PSEUDONYM_KEY": uuid.uuid4().hex * 2,
           # No live desk unless the caller opens one (tests/test_live_handoff.py): what asking for a
           # person does must not depend on the hour the tests or the benchmark run at.
           "LIVE_TEAMS": "off",
           "VAULT_KEY": _VAULT_KEYS.setdefault(stack.database_url, Fernet.generate_key().decode()),
           **(env_extra or {})}
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    log_file = RUN_DIR / f"{log_name}-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "bot", "gateway"], cwd=ROOT, env=env,
                            stdout=log_file.open("wb"), stderr=subprocess.STDOUT)
    gw = GatewayProcess(f"http://127.0.0.1:{port}", env, log_file, proc, stack)
    try:
        wait_http(f"{gw.url}/", proc, 30, "gateway", log_file)  # /healthz is 503 while a part is down
    except Exception:
        stop_gateway(gw)
        raise
    return gw


def stop_gateway(gw: GatewayProcess) -> None:
    if gw.proc.poll() is None:
        gw.proc.terminate()
        try:
            gw.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gw.proc.kill()
