"""A resident, in tests: sends text through the gateway's turn handling and reads plain replies."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Callable
from dataclasses import dataclass, field

import aiohttp

from bot.conversation import handle_turn
from bot.rasa_client import RasaClient
from bot.render import render_plain
from referrals.language import fold


@dataclass
class Resident:
    rasa_url: str
    token: str
    channel: str = "terminal"
    sender: str = field(default_factory=lambda: "test-" + uuid.uuid4().hex)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    actions_secret: str = ""  # the stack's: without it the actions make no referral for this sender

    def say(self, text: str) -> str:
        """Send one message; return all replies joined (as a resident would read them)."""
        async def go() -> str:
            async with aiohttp.ClientSession() as session:
                rasa = RasaClient(session, self.rasa_url, self.token, actions_secret=self.actions_secret)
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


@dataclass
class Texter:
    """A phone texting the city's number: signed Twilio webhooks to the real gateway, TwiML back."""

    gateway_url: str
    auth_token: str
    phone: str = field(default_factory=lambda: "+1555" + str(uuid.uuid4().int)[:7])
    to: str = "+15550100000"
    transcript: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0

    def form(self, body: str, **extra: str) -> dict[str, str]:
        self.sent += 1
        return {"MessageSid": "SM" + uuid.uuid4().hex, "SmsSid": "", "AccountSid": "AC" + "0" * 32,
                "MessagingServiceSid": "", "From": self.phone, "To": self.to, "Body": body, "NumMedia": "0",
                "NumSegments": "1", "FromCity": "RIVERBEND", "FromState": "IN", "FromZip": "47101",
                "FromCountry": "US", "ToCountry": "US", "ApiVersion": "2010-04-01", **extra}

    def post(self, form: dict[str, str], signature: str | None = None, url: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST a form, signed for `url` (default: the webhook's own URL) unless `signature` is given."""
        from twilio.request_validator import RequestValidator

        target = self.gateway_url + "/sms"
        if signature is None:
            signature = RequestValidator(self.auth_token).compute_signature(url or target, form)
        async def go() -> tuple[int, str]:
            async with aiohttp.ClientSession() as session:
                async with session.post(target, data=form, headers={"X-Twilio-Signature": signature,
                                                                    **(headers or {})}) as resp:
                    return resp.status, await resp.text()
        return asyncio.run(go())

    def say(self, text: str, **extra: str) -> str:
        """Text the city; return the reply bodies joined by blank lines, as the phone shows them."""
        status, twiml = self.post(self.form(text, **extra))
        assert status == 200, (status, twiml)
        reply = "\n\n".join(bodies(twiml))
        self.transcript.append((text, reply))
        return reply

    def show(self) -> str:
        return "\n".join(f"sms> {a}\nbot> {b}" for a, b in self.transcript)


def bodies(twiml: str) -> list[str]:
    """The <Message> bodies of a TwiML reply (parsed as XML, so the reply must be valid TwiML)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(twiml)
    assert root.tag == "Response", twiml
    return [("".join(m.itertext())) for m in root.findall("Message")]


_CHOICE = re.compile(r"(?:^|\s)(\d+)\) (.*?)(?=(?:,| or| o)? \d+\) |$)")


def pick(reply: str, words: str) -> str:
    """The number of the numbered choice whose title contains `words` (accents ignored): on a line of
    its own ("2) Training"), several on one line ("1) Yes or 2) No") or a listed program ("3. Name. ...")."""
    from referrals.language import fold

    def norm(x: str) -> str:
        return fold(x).replace("\u00f1", "n")

    for line in reply.splitlines():
        choices = [(m.group(1), m.group(2)) for m in _CHOICE.finditer(line)]
        listed = re.match(r"\s*(\d+)\. (.*)", line)
        if listed:
            choices.append((listed.group(1), listed.group(2)))
        for number, title in choices:
            if norm(words) in norm(title):
                return number
    raise AssertionError(f"no choice with {words!r} in:\n{reply}")


def answer_questions(say: Callable[[str], str], reply: str) -> str:
    """Answer the age and income questions a need may ask (25 to 54, under $35,000), in either
    language, until something else is asked; the last reply."""
    for _ in range(3):
        low = fold(reply)
        if "how old" in low or "os tiene" in low:  # "años" (fold keeps ñ), or "anos" folded elsewhere
            reply = say(pick(reply, "25 a 54" if "os tiene" in low else "25 to 54"))
        elif "household earn" in low or "gana su hogar" in low:
            reply = say(pick(reply, "menos de $35,000" if "gana su hogar" in low else "under $35,000"))
        else:
            break
    return reply
