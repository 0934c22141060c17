"""A bounded fuzz run against the real gateway process in front of the real stack (ASVS V5.1, V5.3, V13.2).

At least 1,000 hostile inputs per endpoint (POST /sms, POST /chat, POST /chat/contact, GET of static paths):
random bytes, huge and malformed bodies, unicode edge cases, payload strings, duplicated and missing
fields, wrong content types. Half of the /sms inputs carry a valid Twilio signature, so the hostile form
reaches the message handling and Rasa instead of stopping at the signature check.

What must hold: no 5xx, no request the gateway logged as an internal error (an /sms fault answers 200 with
the "trouble" TwiML, so the log is the only place it would show), and the process alive and healthy at the
end. Seeded, so a failure replays: the assertion message names the seed and the input.

    FUZZ_N=20000 .venv/bin/python -m pytest tests/test_gateway_fuzz.py -q     # the longer run (make fuzz-gateway)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import string
import urllib.parse

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import TWILIO_TEST_TOKEN, start_gateway, stop_gateway

N = int(os.environ.get("FUZZ_N", "1000"))
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
CONCURRENCY = 6

UNICODE_EDGES = [
    "\u0000", "\ufeff", "\u202e", "\u200b\u200d\u2060", "e\u0301" * 300, "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\uff11\uff12\uff13", "\u0661\u0662\u0663", "\u00a0", "\u2028\u2029", "\r\n\r\n", "\t" * 50, "\U0010ffff",
    "\ud7ff", "\ue000", "A\u0308\u0308\u0308\u0308", "\u0130stanbul", "\u00df" * 20, "\u4e00" * 400, "\u0000" * 64,
    "\x7f\x1b[31m", "%00%0a", "<script>alert(1)</script>", "' OR 1=1 --", "{{7*7}}", "${jndi:ldap://x}",
    "../../etc/passwd", "\\\\server\\share", "STOP", "stop\u200b", "S\u0301TOP", "DELETE", "my data",
]
PAYLOADS = [
    "/restart", "/session_start", '/inform{"choice":"1"}', "/crisis", '/{"x":1}', "/" * 200, "/greet@0.9",
    '/inform{"choice": "' + "9" * 500 + '"}', '/human{"referral_id":"x"}', "/EXTERNAL_reminder", "/action_listen",
    '/inform{"choice":"1"}' * 50, "/inform{", "/ inform", "//", "/\u0000", "/inform[\"x\"]", "/back",
]


def text_sample(rnd: random.Random) -> str:
    kind = rnd.randrange(7)
    if kind == 0:
        return rnd.choice(UNICODE_EDGES) * rnd.randint(1, 5)
    if kind == 1:
        return rnd.choice(PAYLOADS)
    if kind == 2:
        points = (rnd.randint(1, 0x2FFFF) for _ in range(rnd.randint(0, 60)))
        return "".join(chr(p) for p in points if not 0xD800 <= p <= 0xDFFF)
    if kind == 3:
        return "".join(rnd.choice(string.printable) for _ in range(rnd.randint(0, 200)))
    if kind == 4:
        return rnd.choice(["i need a job", "hola", "1", "47104", "555-010-2000"]) + rnd.choice(UNICODE_EDGES)
    if kind == 5:
        return "x" * rnd.choice([1599, 1600, 1601, 5000, 70000])
    return ""


def json_body(rnd: random.Random, fields: dict) -> tuple[bytes, str]:
    """A body for a JSON endpoint: valid, malformed, duplicated, mistyped or not JSON at all."""
    kind = rnd.randrange(10)
    if kind == 0:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 2048))), "application/json"
    if kind == 1:
        return ("[" * rnd.randint(100, 50_000)).encode(), "application/json"
    if kind == 2:
        key, value = rnd.choice(list(fields.items()))
        dup = json.dumps(fields)[:-1] + f', "{key}": {json.dumps(text_sample(rnd))}}}'
        return dup.encode(), "application/json"
    if kind == 3:
        wrong = rnd.choice([None, 1, -1, 1e308, True, [], {}, ["a"], {"a": "b"}, "x" * 100_000])
        return json.dumps({**fields, rnd.choice(list(fields)): wrong}).encode(), "application/json"
    if kind == 4:
        missing = dict(fields)
        missing.pop(rnd.choice(list(fields)), None)
        return json.dumps(missing).encode(), rnd.choice(["application/json", "text/plain", ""])
    if kind == 5:
        return json.dumps(fields).encode()[: rnd.randint(0, 40)], "application/json"
    if kind == 6:
        return (json.dumps(fields) + "\n" + "A" * rnd.choice([10, 20_000, 200_000])).encode(), "application/json"
    if kind == 7:
        return urllib.parse.urlencode(fields).encode(), rnd.choice(
            ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/html", "application/xml"])
    if kind == 8:
        return json.dumps(fields, ensure_ascii=True).replace("a", "\\ud800", 1).encode(), "application/json"
    return json.dumps(fields, ensure_ascii=rnd.random() < 0.5).encode("utf-8", "surrogatepass"), "application/json"


def sms_form(rnd: random.Random, phone: str) -> list[tuple[str, str]]:
    form = [("MessageSid", "SM" + "%032x" % rnd.getrandbits(128)), ("AccountSid", "AC" + "0" * 32),
            ("From", phone), ("To", "+15550100000"), ("Body", text_sample(rnd)), ("NumMedia", "0")]
    kind = rnd.randrange(8)
    if kind == 0:
        form.append(("Body", text_sample(rnd)))  # duplicated field
    elif kind == 1:
        form = [f for f in form if f[0] != rnd.choice(["From", "Body", "MessageSid"])]  # missing field
    elif kind == 2:
        form = [(k, v) if k != "NumMedia" else (k, rnd.choice(["-1", "1e309", "x", "999999999999", " 1"]))
                for k, v in form]
    elif kind == 3:
        form = [(k, v) if k != "From" else (k, rnd.choice(["", "not a number", "+1" + "9" * 40, "\u0000", phone * 50]))
                for k, v in form]
    elif kind == 4:
        form.append((text_sample(rnd)[:30] or "x", text_sample(rnd)[:100]))
    return form


def get_path(rnd: random.Random) -> str:
    pieces = ["static", "..", "%2e%2e", "chat.js", "index.html", "%00", "....//", "%252e", "~", "\u00e9", "a" * 300]
    return "/" + "/".join(urllib.parse.quote(rnd.choice(pieces), safe="%/.") for _ in range(rnd.randint(1, 6)))


# One stack is enough: the gateway is what is fuzzed (the database only sees opt-outs and MessageSids).
pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def fuzz_gateway(stack):
    gw = start_gateway(stack, {"RATE_LIMIT_ADDRESS": "0/0", "RATE_LIMIT_NEW_SESSIONS": "0/0",
                               "RATE_LIMIT_SESSION": "0/0", "RATE_LIMIT_NUMBER": "0/0",
                               # Rasa queued behind the fuzz on a shared CI machine is not what is tested here
                               # (tests/test_gateway_faults.py covers a slow Rasa); a 503 for it would hide nothing.
                               "RASA_TIMEOUT": "60"}, log_name="gateway-fuzz")
    yield gw
    stop_gateway(gw)


async def _run(gw, requests: list[tuple[str, str, bytes, dict]]) -> list[tuple[int, str]]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def one(i: int, method: str, path: str, body: bytes, headers: dict) -> tuple[int, str]:
            async with semaphore:
                try:
                    async with session.request(method, gw.url + path, data=body or None, headers=headers,
                                               skip_auto_headers=["Content-Type"]) as resp:
                        await resp.read()
                        return resp.status, f"#{i} {method} {path[:80]} {headers} {body[:200]!r}"
                except aiohttp.ClientResponseError as exc:  # e.g. a header line aiohttp cannot read
                    return exc.status, f"#{i} {path[:80]} {body[:200]!r}"
        return await asyncio.gather(*(one(i, *r) for i, r in enumerate(requests)))


def _check(gw, results: list[tuple[int, str]], endpoint: str) -> None:
    assert len(results) >= N
    server_errors = [(s, what) for s, what in results if s >= 500]
    assert not server_errors, f"{endpoint}: {len(server_errors)} 5xx (seed {SEED}); first: {server_errors[:3]}"
    assert gw.proc.poll() is None, "the gateway process is alive"
    assert '"gateway_error"' not in gw.log_text(), gw.log_text()[-3000:]


def test_sms_webhook_survives_hostile_input(fuzz_gateway):
    rnd = random.Random(SEED)
    validator = RequestValidator(TWILIO_TEST_TOKEN)
    url = fuzz_gateway.url + "/sms"
    phones = ["+1555" + str(rnd.randrange(10**7)).zfill(7) for _ in range(40)]
    requests = []
    for _ in range(N):
        form = sms_form(rnd, rnd.choice(phones))
        kind = rnd.randrange(10)
        if kind < 5:  # signed, so the hostile content reaches the handler
            signature = validator.compute_signature(url, dict(form)) if kind else "x"
            body, ctype = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        else:
            body, ctype = json_body(rnd, dict(form))
            signature = rnd.choice(["", "AAAA", validator.compute_signature(url, dict(form))])
        requests.append(("POST", "/sms", body, {"Content-Type": ctype, "X-Twilio-Signature": signature}))
    _check(fuzz_gateway, asyncio.run(_run(fuzz_gateway, requests)), "/sms")


def test_web_chat_survives_hostile_input(fuzz_gateway):
    rnd = random.Random(SEED + 1)
    requests = []
    for _ in range(N):
        session = rnd.choice([None, "A" * 24 + "." + "B" * 22, text_sample(rnd)[:80], 12])
        body, ctype = json_body(rnd, {"session": session, "message": text_sample(rnd)})
        requests.append(("POST", "/chat", body, {"Content-Type": ctype} if ctype else {}))
    _check(fuzz_gateway, asyncio.run(_run(fuzz_gateway, requests)), "/chat")


def test_contact_endpoint_survives_hostile_input(fuzz_gateway):
    rnd = random.Random(SEED + 2)
    requests = []
    for _ in range(N):
        body, ctype = json_body(rnd, {"session": rnd.choice([None, "A" * 24 + "." + "B" * 22]),
                                      "contact": text_sample(rnd)})
        requests.append(("POST", "/chat/contact", body, {"Content-Type": ctype} if ctype else {}))
    _check(fuzz_gateway, asyncio.run(_run(fuzz_gateway, requests)), "/chat/contact")


def test_static_paths_survive_hostile_input(fuzz_gateway):
    rnd = random.Random(SEED + 3)
    requests = [("GET", get_path(rnd), b"", {}) for _ in range(N)]
    results = asyncio.run(_run(fuzz_gateway, requests))
    _check(fuzz_gateway, results, "GET")
    assert all(s in (200, 400, 403, 404, 405) for s, _ in results), {s for s, _ in results}

    async def health():
        async with aiohttp.ClientSession() as s:
            async with s.get(fuzz_gateway.url + "/healthz") as resp:
                return resp.status, await resp.json()
    status, body = asyncio.run(health())
    assert status == 200 and body["status"] == "ok" and body["gateway"] == body["rasa"] == "ok", body
