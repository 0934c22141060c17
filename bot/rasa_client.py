"""A small aiohttp client for the Rasa server's HTTP API (REST channel, /model/parse, tracker)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import aiohttp

from referrals.vault import sender_proof


class RasaUnavailable(RuntimeError):
    """Rasa did not answer in time or answered with an error."""


class RasaClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str = "",
                 timeout: float = 10.0, actions_secret: str = ""):
        self.session = session
        # With ACTIONS_SECRET each message says the gateway issued its sender id (actions/sender.py).
        self.actions_secret = actions_secret
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _params(self) -> dict[str, str]:
        return {"token": self.token} if self.token else {}

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        # Errors name the endpoint, never the conversation id in the path: it is the resident's pseudonym.
        where = re.sub(r"/conversations/[^/]+/", "/conversations/<id>/", path)
        try:
            async with self.session.request(method, self.base_url + path, timeout=self.timeout,
                                            **kwargs) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"{method} {where}: HTTP {resp.status}")
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{method} {where}: {type(exc).__name__}") from exc

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One user turn through the REST channel; returns the bot's messages."""
        metadata = dict(metadata or {})
        if self.actions_secret:
            metadata["sender_proof"] = sender_proof(self.actions_secret, sender)
        body = {"sender": sender, "message": text, "metadata": metadata}
        return await self._json("POST", "/webhooks/rest/webhook", json=body)

    async def parse(self, text: str) -> dict[str, Any]:
        return await self._json("POST", "/model/parse", params=self._params(), json={"text": text})

    async def tracker(self, sender: str) -> dict[str, Any]:
        return await self._json("GET", f"/conversations/{quote(sender, safe='')}/tracker",
                                params={**self._params(), "include_events": "AFTER_RESTART"})

    async def rewind_turn(self, sender: str, turn_id: str) -> bool:
        """Undo a failed turn in Rasa: if the conversation's last user message is the one sent with
        metadata `turn` = `turn_id`, append Rasa's `rewind` event (UserUtteranceReverted), which drops
        that message and everything after it, and an `action_listen`. Rasa's lock on the conversation orders this after a
        turn still being processed. True when rewound."""
        last_user = effective_user_events((await self.tracker(sender)).get("events") or [])
        if not last_user or (last_user[-1].get("metadata") or {}).get("turn") != turn_id:
            return False
        # As Rasa's own fallback does: rewind, then listen (without the listen, the next message is
        # predicted from the rewound state and falls back).
        await self._json("POST", f"/conversations/{quote(sender, safe='')}/tracker/events", params=self._params(),
                         json=[{"event": "rewind"}, {"event": "action", "name": "action_listen"}])
        return True

    async def forget(self, sender: str) -> None:
        """Replace a conversation's events with none: Rasa keeps nothing of it (in-memory tracker store)."""
        await self._json("PUT", f"/conversations/{quote(sender, safe='')}/tracker/events",
                         params=self._params(), json=[])

    async def last_buttons(self, sender: str) -> list[dict[str, Any]]:
        """The buttons of the bot's last message that had any, if no user turn came after it."""
        events = (await self.tracker(sender)).get("events") or []
        for event in reversed(events):
            if event.get("event") == "user":
                return []
            if event.get("event") == "bot":
                buttons = (event.get("data") or {}).get("buttons")
                if buttons:
                    return buttons
        return []


def effective_user_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user messages of a tracker that still count: a `rewind` cancels the latest one before it,
    a `restart` or a new session the ones before it."""
    users: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            users.append(event)
        elif kind == "rewind" and users:
            users.pop()
        elif kind in ("restart", "session_started"):
            users.clear()
    return users
