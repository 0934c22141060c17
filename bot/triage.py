"""`python -m bot triage`: one message per line on stdin, one JSON object per line on stdout, in order.

{"text": ..., "need": <label or null>, "intent": ..., "confidence": <0..1>, "language": "en"|"es"}

The need comes from the one intent -> need mapping (referrals.needs), with the crisis keywords of
bot.safety on top: a message either of them calls a crisis is a crisis.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from typing import Any, Iterable, TextIO

import aiohttp

from bot.conversation import detector
from bot.rasa_client import RasaClient
from bot.safety import is_crisis
from referrals.needs import need_for_intent

CONCURRENCY = 8


def language_of(text: str) -> str:
    found = detector().detect(text, margin=0.5)
    if found:
        return found
    scores = detector().scores(text)
    scores.pop("_n")
    return max(scores, key=scores.get) if any(scores.values()) else "en"


def triage_result(text: str, parsed: dict[str, Any]) -> dict[str, Any]:
    intent = (parsed.get("intent") or {}).get("name")
    confidence = float((parsed.get("intent") or {}).get("confidence") or 0.0)
    need = need_for_intent(intent)
    if is_crisis(text):
        need = "crisis"
        if intent != "crisis":
            intent, confidence = "crisis", 1.0
    return {"text": text, "need": need, "intent": intent, "confidence": round(confidence, 4),
            "language": language_of(text)}


async def triage_lines(rasa: RasaClient, lines: Iterable[str]) -> list[dict[str, Any]]:
    texts = [line.rstrip("\r\n") for line in lines]
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(text: str) -> dict[str, Any]:
        if not text.strip():
            return {"text": text, "need": None, "intent": None, "confidence": 0.0, "language": "en"}
        async with sem:
            parsed = await rasa.parse(text[:1600])
        return triage_result(text, parsed)

    return await asyncio.gather(*(one(t) for t in texts))


async def run_triage(rasa_url: str, token: str, stdin: TextIO, stdout: TextIO) -> None:
    async with aiohttp.ClientSession() as session:
        results = await triage_lines(RasaClient(session, rasa_url, token, timeout=60), stdin)
    for r in results:
        stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    stdout.flush()


def main(settings) -> int:
    import urllib.request

    from bot.stack import RUN_DIR, StackError, ensure_model, free_port, start_rasa, wait_http

    url, token = settings["RASA_URL"], settings["RASA_TOKEN"]
    try:  # a running assistant (make run) is reused
        with urllib.request.urlopen(f"{url}/status?token={token}", timeout=2) as resp:
            running = resp.status == 200
    except Exception:
        running = False
    if running:
        asyncio.run(run_triage(url, token, sys.stdin, sys.stdout))
        return 0
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731 - stdout is for results only
    try:
        model = ensure_model(log)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        port, token = free_port(), token or "triage-" + str(free_port())
        # NLU only: no action server runs, but Rasa's endpoints name ACTIONS_SECRET and must find one.
        proc, log_file = start_rasa(model, port, free_port(), token, RUN_DIR,
                                    env_extra={"ACTIONS_SECRET": secrets.token_hex(16)})
    except StackError as exc:
        log(f"[triage] {exc}")
        return 2
    try:
        log("[triage] starting an NLU server (about 20 s)")
        wait_http(f"http://127.0.0.1:{port}/status?token={token}", proc, 180, "Rasa server", log_file)
        asyncio.run(run_triage(f"http://127.0.0.1:{port}", token, sys.stdin, sys.stdout))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0
