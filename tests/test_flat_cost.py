"""Flat cost per turn over a long conversation (issue 11, item 6).

Rasa 3.6 loads and replays every event of the current session on every turn, so a turn's CPU grew with
the conversation (4.8x at the 200th message). scripts/rasa_run.py (`checkpoint_long_sessions`) starts a
new session, slots carried over, when a message arrives for a conversation at rest whose session holds
more than RASA_CHECKPOINT_EVENTS events. Here, against the real Rasa (trained model) and action server:

- what Rasa loads per turn (the rows of the tracker store since the latest `session_started`, as
  Rasa's own query selects them) is no larger at the 200th turn than at the 5th, while the
  conversation's stored history grows (sizes, not timings: the CPU figures are in
  `scripts/bench_gateway.py --cost`);
- the dialogue is the same with a new session started before every message at rest as without any:
  the same resident messages get the same replies from two Rasa servers, one with checkpoints at every
  rest (RASA_CHECKPOINT_EVENTS=0), one without; a referral after many turns, an offer of a person
  accepted on the message after it, and the gateway's undo of a failed turn right after a checkpoint;
- the condition this rests on holds for the trained model: no rule looks further back than the
  latest user message.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tarfile
import uuid

import aiohttp
import pytest
from sqlalchemy import text

from bot.conversation import handle_turn
from bot.rasa_client import RasaClient, effective_user_events
from bot.render import render_plain
from bot.stack import RUN_DIR, free_port, prepare_stores, start_actions, start_rasa, wait_http
from referrals.config import Settings
from referrals.db import make_engine
from tests.chat import answer_questions


class Rasa:
    def __init__(self, url: str, token: str, secret: str, store_url: str):
        self.url, self.token, self.secret = url, token, secret
        self.engine = make_engine(store_url)

    def say(self, sender: str, message: str, metadata: dict | None = None) -> str:
        async def go() -> str:
            async with aiohttp.ClientSession() as s:
                rasa = RasaClient(s, self.url, self.token, timeout=60, actions_secret=self.secret)
                turn = await handle_turn(rasa, sender, message, "terminal", metadata=metadata)
                return "\n".join(render_plain(turn.messages))
        return asyncio.run(go())

    def rewind(self, sender: str, turn_id: str) -> bool:
        async def go() -> bool:
            async with aiohttp.ClientSession() as s:
                return await RasaClient(s, self.url, self.token, timeout=60).rewind_turn(sender, turn_id)
        return asyncio.run(go())

    def events(self, sender: str) -> list[dict]:
        async def go() -> list[dict]:
            async with aiohttp.ClientSession() as s:
                return (await RasaClient(s, self.url, self.token, timeout=60).tracker(sender)).get("events") or []
        return asyncio.run(go())

    def loaded(self, sender: str) -> int:
        """The events Rasa's SQL tracker store loads for this conversation's next turn (its own query:
        every row from the latest `session_started` on), and all the conversation's rows."""
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM events WHERE sender_id = :s AND timestamp >= coalesce("
                "(SELECT max(timestamp) FROM events WHERE sender_id = :s AND type_name = 'session_started'), 0)"),
                {"s": sender}).scalar_one()

    def stored(self, sender: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}).scalar_one()


@pytest.fixture(scope="module")
def rasas(model, tmp_path_factory):
    """One action server; two Rasa servers with their own tracker stores: "checkpoints" starts a new
    session before every message at rest, "plain" never does (Rasa 3.6's behaviour)."""
    tmp = tmp_path_factory.mktemp("flat")
    settings = Settings.from_env({**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'r.db'}"})
    prepare_stores(settings)
    secret = os.urandom(16).hex()
    actions_port = free_port()
    actions, log = start_actions(settings, actions_port, RUN_DIR, secret)
    procs, out = [actions], {}
    try:
        wait_http(f"http://127.0.0.1:{actions_port}/health", actions, 60, "action server", log)
        started = []
        for name, limit in (("checkpoints", "0"), ("plain", "1000000000")):
            store = f"sqlite:///{tmp / (name + '.conversations.db')}"
            token, port = os.urandom(8).hex(), free_port()
            proc, log = start_rasa(model, port, actions_port, token, RUN_DIR, tracker_store_url=store,
                                   env_extra={"ACTIONS_SECRET": secret, "RASA_CHECKPOINT_EVENTS": limit})
            procs.append(proc)
            started.append((name, proc, log, port, token, store))
        for name, proc, log, port, token, store in started:
            wait_http(f"http://127.0.0.1:{port}/status?token={token}", proc, 300, "Rasa server", log)
            out[name] = Rasa(f"http://127.0.0.1:{port}", token, secret, store)
        yield out
    finally:
        for r in out.values():
            r.engine.dispose()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def sessions(events: list[dict]) -> int:
    return sum(e.get("event") == "session_started" for e in events)


def test_the_rules_look_no_further_back_than_the_latest_user_message(model):
    """What makes a new session at rest invisible to the policies: every rule of the trained model
    starts at or after the latest user message (no state before its `action_listen`, none that needs
    the conversation's start). A rule that looks further back must make `checkpoint_long_sessions`
    keep that history first."""
    with tarfile.open(model) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("train_RulePolicy0/rule_policy.json"))
        lookup = json.load(tar.extractfile(member))["lookup"]
    keys = [json.loads(k) for table in ("rules", "rules_for_loop_unhappy_path") for k in lookup[table]]
    assert len(keys) > 100
    for states in keys:
        assert all(s.get("prev_action") for s in states), ("a rule for the conversation's start", states)
        assert not any(s["prev_action"].get("action_name") == "action_listen" for s in states[1:]), \
            ("a rule that looks before the latest user message", states)


def test_the_200th_turn_loads_no_more_events_than_the_5th(rasas):
    rasa = rasas["checkpoints"]
    sender = "flat-" + uuid.uuid4().hex
    # Each message leaves the conversation at rest: a need, its questions, "start over", a greeting.
    script = ["i need a job", "47104", "start over", "hi"]
    loaded, stored = [], []
    for i in range(200):
        assert rasa.say(sender, script[i % len(script)]), f"turn {i + 1} got no reply"
        loaded.append(rasa.loaded(sender))  # what turn i + 2 will load
        stored.append(rasa.stored(sender))
    fifth, last = max(loaded[0:8]), max(loaded[-8:])  # two passes of the script around each point
    assert last <= 1.2 * fifth, (loaded[:8], loaded[-8:])
    assert stored[-1] > 20 * last, "the history is all kept; only the current session is loaded"
    assert sessions(rasa.events(sender)) > 100


def normalised(reply: str) -> str:
    return re.sub(r"\b[0-9A-F]{8}\b", "<ref>", reply)  # a referral's reference differs per referral


def scenario(say) -> list[str]:
    """A resident who comes back again and again: greetings, a referral, a crisis with a person
    offered and accepted on the next message, a referral in Spanish."""
    replies = []

    def s(message: str) -> str:
        reply = say(message)
        replies.append(normalised(reply))
        return reply

    for message in ("hi", "thanks", "what can you do", "hi"):
        s(message)
    s("i need a job asap, got laid off last week")
    reply = s("i live in eastside")
    reply = answer_questions(s, reply)
    s("1")  # the first program
    s("thanks")
    s("i want to kill myself")
    s("yes")
    s("hola")
    s("quiero empezar a ahorrar para una emergencia")
    answer_questions(s, s("47105"))
    s("1")
    s("gracias")
    return replies


def test_the_dialogue_is_the_same_with_a_new_session_at_every_rest(rasas):
    with_checkpoints, plain = rasas["checkpoints"], rasas["plain"]
    a, b = "flat-a-" + uuid.uuid4().hex, "flat-b-" + uuid.uuid4().hex
    replies_a = scenario(lambda m: with_checkpoints.say(a, m))
    replies_b = scenario(lambda m: plain.say(b, m))
    assert replies_a == replies_b
    joined = "\n".join(replies_a).lower()
    assert "caseworker from" in joined and "reference is" in joined, joined  # a referral was made
    assert sessions(with_checkpoints.events(a)) >= 8 and sessions(plain.events(b)) == 1


def test_undo_of_a_failed_turn_right_after_a_new_session(rasas):
    """The gateway's undo (`rewind_turn`) of the first turn after a checkpoint: the message is
    taken back, the conversation goes on from before it, the same with and without checkpoints."""
    transcripts = []
    for name in ("checkpoints", "plain"):
        rasa, sender = rasas[name], f"flat-undo-{name}-" + uuid.uuid4().hex
        replies = [rasa.say(sender, "hi"), rasa.say(sender, "thanks")]
        before = rasa.events(sender)
        replies.append(rasa.say(sender, "i need a job", {"turn": "t-1"}))  # its reply "failed" to arrive
        events = rasa.events(sender)
        if name == "checkpoints":  # a new session started right before the message undone
            new = events[len(before):]
            first_user = next(i for i, e in enumerate(new) if e["event"] == "user")
            assert any(e["event"] == "session_started" for e in new[:first_user]), new[:first_user + 1]
        assert rasa.rewind(sender, "t-1") is True
        assert not any((u.get("metadata") or {}).get("turn") == "t-1"
                       for u in effective_user_events(rasa.events(sender)))
        assert rasa.rewind(sender, "t-1") is False, "nothing left to undo"
        replies += [rasa.say(sender, "i need help saving money"), rasa.say(sender, "47105")]
        transcripts.append([normalised(r) for r in replies])
    assert transcripts[0] == transcripts[1]
    assert "zip code" in transcripts[0][3].lower(), transcripts[0]
