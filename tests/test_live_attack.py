"""The web chat's long poll (GET /chat/live) under attack: the real gateway app in this process (aiohttp's
test server), on a real migrated database of each kind; no Rasa is needed, the poll never asks it.

- the session id (the resident's key to the conversation) is taken from a header, never from the URL,
  which proxies log (deploy/haproxy.cfg: `option httplog` writes the whole request line);
- a huge `after` is a 400, not a 500 (SQLite cannot compare an integer that large);
- one session cannot hold many polls at once: each waiting poll reads the database twice a second.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from bot.gateway import make_app
from referrals import live
from referrals.config import Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.vault import Vault, pseudonym

DESK = live.Team("Desk", frozenset(), None, always=True)


def settings_for(db_url: str) -> Settings:
    # The gateway's own state table goes in the same database (no Rasa here, so no conversation store).
    return Settings.from_env({"DATABASE_URL": db_url, "TRACKER_STORE_URL": db_url,
                              "VAULT_KEY": Fernet.generate_key().decode(),
                              "PSEUDONYM_KEY": uuid.uuid4().hex * 2, "LIVE_TEAMS": "Desk | * | always",
                              "RASA_URL": "http://127.0.0.1:9", "ACTIONS_URL": "http://127.0.0.1:9"})


def staff_says(settings: Settings, session_id: str, body: str) -> None:
    """A resident of `session_id` in the live queue, and a staff message to them."""
    who = pseudonym(settings["PSEUDONYM_KEY"], "web", session_id)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            row = live.current(s, who) or live.request_person(
                s, who, channel="web", language="en", team=DESK, need=None, neighborhood=None, asked=[],
                crisis=False)
            live.add_message(s, row, "staff", body, Vault.from_settings(settings).seal, staff_id=1)
    finally:
        engine.dispose()


def run(db_url: str, scenario) -> None:
    """`scenario(client, gateway, settings)` against the gateway app on `db_url`."""
    settings = settings_for(db_url)

    async def go():
        app = make_app(settings)
        async with TestClient(TestServer(app)) as client:
            await scenario(client, app["gateway"], settings)
    asyncio.run(go())


def test_the_session_is_read_from_a_header_never_from_the_url(db_url):
    async def scenario(client, gateway, settings):
        session = gateway.issue_session()
        await asyncio.to_thread(staff_says, settings, session, "Hi, this is Ana.")
        in_url = await client.get("/chat/live", params={"session": session, "wait": "0"})
        assert in_url.status == 400 and "X-Chat-Session" in (await in_url.json())["error"]
        polled = await client.get("/chat/live", params={"wait": "0"}, headers={"X-Chat-Session": session})
        assert polled.status == 200
        body = await polled.json()
        assert [m["text"] for m in body["messages"]] == ["Hi, this is Ana."] and body["live"] is True
        forged = session[:-1] + ("A" if session[-1] != "A" else "B")  # the signature does not match
        refused = await client.get("/chat/live", params={"wait": "0"}, headers={"X-Chat-Session": forged})
        assert refused.status == 400
    run(db_url, scenario)


def test_bad_numbers_are_a_400_never_a_500(db_url):
    async def scenario(client, gateway, settings):
        session = gateway.issue_session()
        await asyncio.to_thread(staff_says, settings, session, "Hi")
        for after, wait in (("1" + "0" * 25, "0"), ("9" * 5000, "0"), ("x", "0"), ("0", "soon")):
            resp = await client.get("/chat/live", params={"after": after, "wait": wait},
                                    headers={"X-Chat-Session": session})
            assert resp.status == 400, (after[:30], wait, resp.status, await resp.text())
            assert "error" in await resp.json()
        for after, wait in (("-5", "nan"), ("0", "inf"), ("0", "-1")):  # clamped to 0..25 s, after >= 0
            resp = await client.get("/chat/live", params={"after": after, "wait": wait},
                                    headers={"X-Chat-Session": session})
            assert resp.status == 200 and [m["text"] for m in (await resp.json())["messages"]] == ["Hi"]
    run(db_url, scenario)


def test_one_session_holds_one_poll_at_a_time(db_url):
    async def scenario(client, gateway, settings):
        session = gateway.issue_session()
        await asyncio.to_thread(staff_says, settings, session, "first")
        seen = (await (await client.get("/chat/live", params={"wait": "0"},
                                        headers={"X-Chat-Session": session})).json())["messages"][-1]["id"]

        async def poll():
            started = time.monotonic()
            resp = await client.get("/chat/live", params={"after": str(seen), "wait": "20"},
                                    headers={"X-Chat-Session": session})
            return resp.status, await resp.json(), time.monotonic() - started, resp.headers.get("Retry-After")

        older = asyncio.create_task(poll())
        await asyncio.sleep(1)
        newer = asyncio.create_task(poll())
        status, body, took, retry = await asyncio.wait_for(older, 5)
        assert status == 429 and took < 4 and retry, "the older poll ends when a newer one starts"
        await asyncio.to_thread(staff_says, settings, session, "second")
        status, body, took, _ = await asyncio.wait_for(newer, 10)
        assert status == 200 and [m["text"] for m in body["messages"]] == ["second"] and took < 10
    run(db_url, scenario)

