"""A resident, in tests: sends text through the gateway's turn handling and reads plain replies."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import aiohttp

from bot.conversation import handle_turn
from bot.rasa_client import RasaClient
from bot.render import render_plain


@dataclass
class Resident:
    rasa_url: str
    token: str
    channel: str = "terminal"
    sender: str = field(default_factory=lambda: "test-" + uuid.uuid4().hex)
    transcript: list[tuple[str, str]] = field(default_factory=list)

    def say(self, text: str) -> str:
        """Send one message; return all replies joined (as a resident would read them)."""
        async def go() -> str:
            async with aiohttp.ClientSession() as session:
                rasa = RasaClient(session, self.rasa_url, self.token)
                turn = await handle_turn(rasa, self.sender, text, self.channel)
                return "\n".join(render_plain(turn.messages))
        reply = asyncio.run(go())
        self.transcript.append((text, reply))
        return reply

    def tracker(self) -> dict:
        async def go() -> dict:
            async with aiohttp.ClientSession() as session:
                return await RasaClient(session, self.rasa_url, self.token).tracker(self.sender)
        return asyncio.run(go())

    def slot(self, name: str):
        return (self.tracker().get("slots") or {}).get(name)

    def show(self) -> str:
        return "\n".join(f"you> {a}\nbot> {b}" for a, b in self.transcript)
