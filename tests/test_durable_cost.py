"""Flat cost per turn (issue 11): Rasa 3.6 sends the action server the whole session with every action
call, so a turn's cost grew with the conversation. scripts/rasa_run.py now sends the events since the
last user message (plus slots, latest message, active loop). Here a recording proxy between the real
Rasa and the real action server measures what is sent, over one 200-turn conversation: the 200th
turn's action calls are no bigger than the 5th's (sizes, not timings: the timings are in
`scripts/bench_gateway.py --memory`)."""

from __future__ import annotations

import asyncio
import os
import threading

import aiohttp
import pytest
from aiohttp import web

from bot.rasa_client import RasaClient
from bot.stack import RUN_DIR, free_port, prepare_stores, start_actions, start_rasa, wait_http
from referrals.config import Settings

TURNS = 200


class RecordingProxy:
    """Forwards POST /webhook to the action server and records each request body's size."""

    def __init__(self, target: str):
        self.target, self.sizes, self.port = target, [], free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            self.sizes.append(len(body))
            async with aiohttp.ClientSession() as s:
                async with s.post(self.target + "/webhook", data=body,
                                  headers={"Content-Type": "application/json",
                                           "X-Actions-Secret": request.headers.get("X-Actions-Secret", "")}) as resp:
                    return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")

        async def health(_r):
            return web.json_response({"status": "ok"})

        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/webhook", forward)
        app.router.add_get("/health", health)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()


@pytest.fixture(scope="module")
def cost_stack(model, tmp_path_factory):
    settings = Settings.from_env({**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('cost') / 'r.db'}"})
    tracker = prepare_stores(settings)
    actions_port = free_port()
    secret = os.urandom(16).hex()  # the action server runs actions only for Rasa (actions/server.py)
    actions, log = start_actions(settings, actions_port, RUN_DIR, secret)
    procs = [actions]
    try:
        wait_http(f"http://127.0.0.1:{actions_port}/health", actions, 60, "action server", log)
        proxy = RecordingProxy(f"http://127.0.0.1:{actions_port}")
        token, port = os.urandom(8).hex(), free_port()
        rasa, log = start_rasa(model, port, proxy.port, token, RUN_DIR, tracker_store_url=tracker,
                               env_extra={"ACTIONS_SECRET": secret})
        procs.append(rasa)
        wait_http(f"http://127.0.0.1:{port}/status?token={token}", rasa, 240, "Rasa server", log)
        yield f"http://127.0.0.1:{port}", token, proxy
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_the_200th_turn_sends_the_action_server_no_more_than_the_5th(cost_stack):
    url, token, proxy = cost_stack
    # A resident who keeps changing their mind: every turn runs custom actions (the need, the form).
    script = ["i need a job", "47104", "i want to save money", "47101"]

    async def converse() -> list[list[int]]:
        per_turn = []
        async with aiohttp.ClientSession() as s:
            rasa = RasaClient(s, url, token, timeout=60)
            for i in range(TURNS):
                before = len(proxy.sizes)
                replies = await rasa.send("cost-resident", script[i % len(script)], {"channel": "test"})
                assert replies, f"turn {i + 1} got no reply"
                per_turn.append(proxy.sizes[before:])
        return per_turn

    per_turn = asyncio.run(converse())
    fifth, last = per_turn[4], per_turn[TURNS - 4]  # the same step of the script (turn 5 and turn 197)
    assert fifth and last, "both turns call the action server"
    assert max(last) <= 1.2 * max(fifth), (fifth, last)
    assert sum(last) <= 1.2 * sum(fifth), (fifth, last)
