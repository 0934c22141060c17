"""A bounded fuzz run against every route of the caseworker portal (issue 14): hostile inputs of every
kind a scanner or an angry visitor sends, from signed-out visitors, half-signed-in sessions and
signed-in staff of the route's own role (so the handlers run, not just the sign-in check).

Zero answers of 500 or more, no "portal error" in the log, and the portal still healthy afterwards.

FUZZ_N inputs per route (default 1,000; `make fuzz` runs 20,000 on both databases). The seed is
FUZZ_SEED (default: fixed, so CI is repeatable); a failure prints the inputs that broke it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import time
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import delete
from yarl import URL

from referrals import accounts
from referrals.models import LoginThrottle, StaffUser
from tests.test_portal import EXPECTED, MFA, PUBLIC, ROLES, Portal, app_routes, portal  # noqa: F401  (fixture)

N = int(os.environ.get("FUZZ_N", "1000"))
SEED = int(os.environ.get("FUZZ_SEED", "14"))
DATABASES = [d for d in os.environ.get("FUZZ_DATABASES", "postgresql").split(",") if d]
PARALLEL = 6
# Fields the portal's forms and pages read, so the fuzz reaches the code behind them.
FIELDS = ["csrf_token", "username", "password", "password2", "role", "organization", "code", "next", "status",
          "reason", "date", "note", "user_id", "current_password", "new_password", "new_password2", "session",
          "from", "to", "by", "expired", "done"]
# Routes that end the session they are called with: each request there gets a session of its own.
ENDS_SESSIONS = {"/logout", "/account/sessions/revoke", "/account/sessions/revoke-others", "/account/password"}

UNICODE = ["", "\x00", "\x00\x00admin", "a\x00b", "\u202egnp.exe", "\ufeff", "\u200b\u200d", "e\u0301" * 50,
           "𝕬𝖉𝖒𝖎𝖓", "👩🏽‍💻" * 20, "\uffff", "\U0010ffff", "ǅ", "ﬃ", "İ", "ß" * 100, "\r\n\r\nSet-Cookie: x=1",
           "<script>alert(1)</script>", "{{7*7}}", "{% raw %}", "' OR 1=1 --", "\"; DROP TABLE staff_users; --",
           "../../../etc/passwd", "..%2f..%2f", "%00", "%ff%fe", "%", "%%", "%zz", "\\", "//evil.example",
           "javascript:alert(1)", "9" * 40, "-1", "0", "2147483648", "-9223372036854775809", "1e308", "NaN",
           "0x10", "١٢٣", "9999-12-31", "0001-01-01", "2026-02-30", "10000-01-01", "-2026-01-01", "2026-13-01",
           "x" * 5000, " " * 300, "\t", "caseworker", "admin", "new", "closed", "enrolled", "open", "all",
           "need,neighborhood", "need," * 200, "true", "null", "[]", "{}"]
RAW_BYTES = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\x00", b"%ff",
             b"\xe2\x80", b"\xf0\x9f\x98"]


@dataclass
class Actor:
    kind: str  # "anonymous", "pending" or a role
    token: str = ""
    csrf: str = ""


def _text(rng: random.Random) -> str:
    pick = rng.random()
    if pick < .55:
        return rng.choice(UNICODE)
    if pick < .8:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000), rng.randrange(0x10000, 0x10ffff)]))
                       for _ in range(rng.randrange(0, 40))).replace("\ud800", "")
    return rng.choice(UNICODE) + rng.choice(UNICODE)


def _header_safe(value: str) -> str:
    """What a client can put in a header at all (no control characters, Latin-1)."""
    return "".join(c for c in value[:100] if 32 <= ord(c) < 127)


def _surrogate_safe(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _form_pairs(rng: random.Random, csrf: str) -> list[tuple[str, str]]:
    pairs = [(rng.choice(FIELDS), _text(rng)) for _ in range(rng.randrange(0, 8))]
    if rng.random() < .3:  # the same field twice (or ten times)
        name = rng.choice(FIELDS)
        pairs += [(name, _text(rng)) for _ in range(rng.randrange(2, 10))]
    if csrf and rng.random() < .75:
        pairs.insert(rng.randrange(0, len(pairs) + 1), ("csrf_token", csrf))
    return pairs


def _urlencode(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import quote

    return b"&".join(quote(_surrogate_safe(k)).encode() + b"=" + quote(_surrogate_safe(v)).encode() for k, v in pairs)


def _body(rng: random.Random, csrf: str) -> tuple[bytes | None, dict[str, str], str]:
    """A hostile body, its headers and a name for the report."""
    kind = rng.choice(["form", "form", "form", "raw-bytes", "huge", "bad-encoding", "json", "multipart",
                       "multipart-broken", "text", "charset", "empty", "no-type", "query-in-body"])
    form = _form_pairs(rng, csrf)
    if kind == "form":
        return _urlencode(form), {"Content-Type": "application/x-www-form-urlencoded"}, kind
    if kind == "raw-bytes":
        return rng.randbytes(rng.randrange(1, 3000)), {"Content-Type": rng.choice(
            ["application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "application/octet-stream"])}, kind
    if kind == "huge":
        size = rng.choice([63 * 1024, 65 * 1024, 300 * 1024])
        return b"csrf_token=" + csrf.encode() + b"&note=" + b"A" * size, {
            "Content-Type": "application/x-www-form-urlencoded"}, kind
    if kind == "bad-encoding":
        body = _urlencode(form) + b"&username=" + rng.choice(RAW_BYTES) + b"&code=" + rng.choice(RAW_BYTES)
        return body, {"Content-Type": "application/x-www-form-urlencoded"}, kind
    if kind == "json":
        return json.dumps(dict(form) | {"nested": {"a": [1, 2, {"b": None}]}}).encode(), {
            "Content-Type": "application/json", "X-CSRF-Token": csrf if rng.random() < .7 else _header_safe(_text(rng))}, kind
    if kind.startswith("multipart"):
        boundary = "----fuzz" + str(rng.randrange(10 ** 9))
        parts = []
        for name, value in form:
            if rng.random() < .3:  # a file where a field was expected
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="a.txt"\r\n'
                             f"Content-Type: application/octet-stream\r\n\r\n".encode() + rng.randbytes(200) + b"\r\n")
            else:
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                             + _surrogate_safe(value) + b"\r\n")
        body = b"".join(parts) + (f"--{boundary}--\r\n".encode() if kind == "multipart" else b"--" + boundary.encode()[:5])
        return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}, kind
    if kind == "text":
        return _surrogate_safe(_text(rng)), {"Content-Type": "text/plain"}, kind
    if kind == "charset":
        return _urlencode(form), {"Content-Type": "application/x-www-form-urlencoded; charset="
                                  + rng.choice(["utf-16", "nope", "latin-1", "utf-7", "", "utf-32-be"])}, kind
    if kind == "empty":
        return b"", {"Content-Type": "application/x-www-form-urlencoded"}, kind
    if kind == "no-type":
        return _urlencode(form), {}, kind
    return None, {}, kind


def _path(rng: random.Random, template: str, ids: dict[str, list[str]]) -> str:
    """The route with a hostile (sometimes a real) {id}, {name}, and a hostile query string."""
    from urllib.parse import quote

    def hostile() -> str:
        if rng.random() < .25:
            return quote(rng.randbytes(rng.randrange(1, 30)), safe="")
        return quote(_surrogate_safe(_text(rng)), safe="") or "x"
    path = template
    if "{id}" in path:
        real = ids["users" if path.startswith("/admin") else "referrals"]
        path = path.replace("{id}", rng.choice(real) if rng.random() < .3 else hostile())
    if "{name}" in path:
        path = path.replace("{name}", rng.choice(["portal.css", "reports.css", "..%2fviews.py", hostile()]))
    # Any other placeholder (a report release's {period} and {revision}, ...): a plausible value or a hostile one.
    plausible = ["2026-01", "FY2025-Q4", "FY2026", "2026-01-open", "2026-01.csv", "1", "1.csv", "0", "9999-12",
                 "0001-01", "FY9999-Q4", "2026-13"]
    path = re.sub(r"\{[a-z_]+\}", lambda _m: rng.choice(plausible) if rng.random() < .4 else hostile(), path)
    if rng.random() < .6:
        pairs = _form_pairs(rng, "")
        query = "&".join(quote(_surrogate_safe(k), safe="") + "=" + quote(_surrogate_safe(v), safe="") for k, v in pairs)
        if rng.random() < .2:
            query += "&from=" + rng.choice(["9999-12-31", "0001-01-01", "%ff", "2026-02-30"])
            query += "&to=" + rng.choice(["9999-12-31", "0001-01-01", "", "x" * 300])
        path += "?" + query
    return path


class Sessions:
    """Sign-ins made straight in the database (the fuzz is not about argon2): a full session per role,
    a pending one (password only), and a fresh one whenever a route may end the one it is called with."""

    def __init__(self, p: Portal):
        self.p = p
        self.standing: dict[str, Actor] = {}

    def make(self, kind: str) -> Actor:
        if kind == "anonymous":  # with the sign-in form's double-submit token, so POST /login gets through
            return Actor(kind, "", "fuzz-login-csrf-token")
        username = "caseworker" if kind == "pending" else kind
        with self.p.sessions.begin() as s:
            token, row = accounts.start_session(s, s.get(StaffUser, self.p.users[username]), mfa_done=kind != "pending")
            return Actor(kind, token, row.csrf_token)

    def forget(self, actor: Actor) -> None:
        with self.p.sessions.begin() as s:
            accounts.end_session(s, actor.token)

    def actor(self, kind: str, fresh: bool) -> Actor:
        if fresh or kind not in self.standing:
            actor = self.make(kind)
            if not fresh:
                self.standing[kind] = actor
            return actor
        return self.standing[kind]


def _kinds_for(allowed) -> list[str]:
    if allowed == PUBLIC:
        return ["anonymous", "anonymous", "pending", *ROLES]
    if allowed == MFA:
        return ["pending"] * 6 + ["anonymous", "caseworker"]
    return [*sorted(allowed)] * 4 + ["anonymous", "pending", *ROLES]


async def _fuzz(p: Portal, n: int, seed: int) -> tuple[int, list[str], dict[int, int]]:
    rng = random.Random(seed)
    sessions = Sessions(p)
    ids = {"referrals": [p.referral(), p.referral(claimed_by="caseworker")],
           "users": [str(p.users["spare"]), str(p.users["outsider"])]}
    failures: list[str] = []
    statuses: dict[int, int] = {}
    sent = 0

    def jobs():  # made one at a time: some bodies are 300 KB
        for (method, template), allowed in EXPECTED.items():
            kinds = _kinds_for(allowed)
            for _ in range(n):
                kind = rng.choice(kinds)
                fresh = template in ENDS_SESSIONS or "/admin/users/{id}" in template
                actor = sessions.actor(kind, fresh=fresh)
                body, headers, body_kind = (_body(rng, actor.csrf) if method == "POST" or rng.random() < .1
                                            else (None, {}, "none"))
                cookies = [f"portal_session={actor.token}"] if actor.token else []
                if actor.kind == "anonymous" and rng.random() < .75:
                    cookies.append(f"portal_login_csrf={actor.csrf}")
                if rng.random() < .03:
                    cookies.append(f"portal_session={_header_safe(_text(rng)).replace(';', '')}")
                if cookies:
                    headers = dict(headers) | {"Cookie": "; ".join(cookies)}
                yield (method, _path(rng, template, ids), body, headers, body_kind, actor.kind, template,
                       actor if fresh else None)

    queue = jobs()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as http:
        async def worker() -> None:
            nonlocal sent
            for method, path, body, headers, body_kind, kind, template, fresh_actor in queue:
                try:
                    async with http.request(method, URL(p.url + path, encoded=True), data=body, headers=headers,
                                            allow_redirects=False) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    failures.append(f"{method} {path[:120]!r} body={body_kind} as {kind}: {type(exc).__name__}")
                    continue
                if fresh_actor is not None and fresh_actor.token:  # so sessions do not pile up on /account
                    sessions.forget(fresh_actor)
                sent += 1
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 500:
                    failures.append(f"{status} {method} {path[:120]!r} body={body_kind} {(body or b'')[:80]!r} "
                                    f"as {kind} ({template})")
        await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    return sent, failures, statuses


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_no_hostile_input_makes_the_portal_fail(portal: Portal, caplog):  # noqa: F811
    assert set(app_routes()) == set(EXPECTED), "every route is fuzzed"
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="referrals.portal"):
        sent, failures, statuses = asyncio.run(_fuzz(portal, N, SEED))
    errors = [r.getMessage() for r in caplog.records if r.name == "referrals.portal" and r.levelno >= logging.ERROR]
    print(f"\nportal fuzz: {sent} requests ({N} per route, {len(EXPECTED)} routes, seed {SEED}) in "
          f"{time.monotonic() - started:.0f} s; statuses {dict(sorted(statuses.items()))}")
    assert sent == N * len(EXPECTED)
    assert failures == [], f"{len(failures)} failures, first ones:\n" + "\n".join(failures[:25])
    assert errors == [], "the portal logged errors:\n" + "\n".join(sorted(set(errors))[:25])
    with portal.sessions.begin() as s:  # the fuzz came from one address, now slowed down: wait it out
        s.execute(delete(LoginThrottle))
    health = portal.client().get("/healthz")
    assert health.status_code == 200
    assert portal.client("caseworker").get("/queue").status_code == 200, "staff can still work"
