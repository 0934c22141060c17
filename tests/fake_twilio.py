"""A local fake of Twilio's Messages API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json), for the
real twilio client to talk to where Twilio's cloud cannot be reached. It checks what Twilio checks
that matters here (HTTP Basic auth with the account's SID and token, To/From/Body present, Body at
most 1,600 characters) and answers as Twilio documents: 201 with the message resource, or 4xx with
Twilio's error JSON (code, message, more_info, status)."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aiohttp import web


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "f" * 32
    auth_token: str = "fake-twilio-token"
    messages: list[dict] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)

    async def create_message(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}" \
                or request.match_info["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to, from_, body = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
        sid = "SM" + uuid.uuid4().hex
        resource = {"sid": sid, "account_sid": self.account_sid, "to": to, "from": from_, "body": body,
                    "status": "queued", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
                    "date_created": now, "date_updated": now, "date_sent": None, "price": None,
                    "error_code": None, "error_message": None, "api_version": "2010-04-01",
                    "messaging_service_sid": None, "price_unit": "USD", "subresource_uris": {},
                    "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}
        self.messages.append(resource)
        return web.json_response(resource, status=201)

    def start(self) -> "FakeTwilio":
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def to(self, number: str) -> list[dict]:
        return [m for m in self.messages if m["to"] == number]
