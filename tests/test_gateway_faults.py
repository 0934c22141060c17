"""When Rasa is down or slow, residents get a short 'having trouble' reply in time and the gateway keeps
serving. Runs its own stack, because it stops Rasa in the middle of a conversation."""

from __future__ import annotations

import os
import socket
import time

import pytest

from bot.stack import running_stack
from referrals.config import Settings
from tests.chat import Texter, bodies
from tests.conftest import TWILIO_TEST_TOKEN, start_gateway, stop_gateway

TWILIO_LIMIT_S = 15


@pytest.fixture(scope="module")
def own_stack(model, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('faults') / 'referrals.db'}"
    settings = Settings.from_env({**os.environ, "DATABASE_URL": url})
    with running_stack(settings, log=lambda m: None) as s:
        yield s


def timed(t: Texter, text: str) -> tuple[int, list[str], float]:
    started = time.monotonic()
    status, twiml = t.post(t.form(text))
    return status, bodies(twiml), time.monotonic() - started


def test_rasa_stopped_mid_conversation_gives_the_fallback_and_the_gateway_keeps_serving(own_stack):
    gw = start_gateway(own_stack, {"RASA_TIMEOUT": "5"}, log_name="gateway-faults")
    try:
        t = Texter(gw.url, TWILIO_TEST_TOKEN)
        status, replies, _ = timed(t, "i need a job")
        assert status == 200 and "zip code" in " ".join(replies).lower()

        rasa = own_stack.processes[-1]
        rasa.terminate()
        rasa.wait(timeout=30)

        for text in ("47104", "hola necesito trabajo"):
            status, replies, took = timed(t, text)
            assert status == 200, "Twilio gets a valid reply, not an error it would retry"
            assert took < TWILIO_LIMIT_S
            assert replies and "try again in a few minutes" in replies[0], replies
        assert gw.proc.poll() is None, "the gateway is still running"
        log = gw.log_text()
        assert '"event": "turn"' in log and '"ok": false' in log
        assert "rasa unavailable" in log
        assert "47104" not in log and "necesito" not in log, "the fault is logged without the message"
    finally:
        stop_gateway(gw)


def test_a_slow_rasa_is_cut_off_in_time(own_stack):
    # A server that accepts connections and never answers: Rasa stuck on a long action.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(64)
    port = black_hole.getsockname()[1]
    gw = start_gateway(own_stack, {"RASA_URL": f"http://127.0.0.1:{port}", "RASA_TIMEOUT": "3"},
                       log_name="gateway-slow")
    try:
        t = Texter(gw.url, TWILIO_TEST_TOKEN)
        status, replies, took = timed(t, "hi")
        assert status == 200 and "try again in a few minutes" in replies[0]
        assert 3 <= took < TWILIO_LIMIT_S
        status, replies, _ = timed(t, "hola")
        assert status == 200 and "Intente de nuevo" in replies[0], "the fallback speaks the resident's language"
    finally:
        stop_gateway(gw)
        black_hole.close()
