"""The caseworker portal over HTTP: the real aiohttp app on a real port, a real database (SQLite and
PostgreSQL), real argon2 hashes and the real contact vault.

The authorization matrix at the top tries every route with every role and with nobody signed in; the
tests after it cover what the matrix cannot: sessions, CSRF, lock-out, the audit log and the anonymous
referral log, and who gets to read a resident's phone number.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterator

import pyotp
import pytest
import requests
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from referrals import accounts, cases, models
from referrals.config import ROOT, Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.intake import load_programs
from referrals.models import (AuditEntry, CaseEvent, ReferralCase, ReferralLogEntry, Resident, StaffSession, StaffUser,
                              utcnow)
from referrals.residents import create_referral, save_contact
from referrals.matching import Answers
from referrals.portal import make_app
from referrals.portal.auth import declared_roles
from referrals.store import load_directory
from referrals.vault import Vault

PASSWORD = "correct horse battery staple"
ORG = "Riverbend Community College"
OTHER_ORG = "Riverbend Food Bank"
CDL = "4ad253d4-0d8b-5a99-9f65-5dc934b9983d"          # Riverbend Community College
HEALTHCARE = "65117f00-df88-5693-9dc7-2cede3f53a3d"   # Riverbend Community College
PANTRY = "a5988fe8-e233-5bf2-b22d-5bc193637cf3"       # Riverbend Food Bank
# Values that exist only inside referrals: a page that shows any of them leaked case data.
NEIGHBORHOOD = "Quillfeather Heights"
CONTACT_TIME = "Tuesdays after 5 pm (zqx)"
ROLES = ("caseworker", "supervisor", "analyst", "admin")


# --- running the portal -----------------------------------------------------------------------

class RunningApp:
    """An aiohttp app served on a free loopback port from its own thread, so plain HTTP clients and the
    browser test can talk to it while the test reads and changes the database directly."""

    def __init__(self, app: web.Application):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(app, access_log=None)
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Client:
    """One browser's worth of state: cookies, and the CSRF token of the last page with a form.

    With `portal`, `login` also does the second step as a person with the authenticator app would:
    it enrolls the app the first time (reading the key off the page) and answers the code."""

    def __init__(self, base: str, portal: "Portal | None" = None):
        self.base, self.http, self.csrf, self.portal = base, requests.Session(), "", portal
        self.recovery_codes: list[str] = []

    def get(self, path: str, **kw) -> requests.Response:
        response = self.http.get(self.base + path, allow_redirects=False, timeout=30, **kw)
        self._remember_token(response)
        return response

    def post(self, path: str, data: dict | None = None, token: bool = True, **kw) -> requests.Response:
        data = dict(data or {})
        if token:
            data.setdefault("csrf_token", self.csrf)
        response = self.http.post(self.base + path, data=data, allow_redirects=False, timeout=30, **kw)
        self._remember_token(response)
        return response

    def login(self, username: str, password: str = PASSWORD) -> requests.Response:
        """Password, then (with a portal) the TOTP step; the last response of the two."""
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        if response.status_code == 303 and response.headers["Location"] == "/login/mfa" and self.portal:
            response = self.answer_code(username)
        if response.status_code == 303:
            self.get(response.headers["Location"])  # the landing page carries the session's CSRF token
        return response

    def answer_code(self, username: str) -> requests.Response:
        page = self.get("/login/mfa")
        shown = re.search(r'id="secret">([A-Z2-7 ]+)<', page.text)
        if shown:  # first sign-in: enroll the app with the key the page shows
            self.portal.totp[username] = shown.group(1).replace(" ", "")
        response = self.post("/login/mfa", {"code": self.portal.code(username)})
        if shown and response.status_code == 200:
            self.recovery_codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", response.text)
        return response

    def _remember_token(self, response: requests.Response) -> None:
        found = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)


@dataclass
class Portal:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings
    vault: Vault
    users: dict[str, int]
    totp: dict[str, str] = field(default_factory=dict)  # username -> the authenticator app's key
    phones: dict[str, str] = field(default_factory=dict)

    def client(self, username: str | None = None) -> Client:
        c = Client(self.url, self)
        if username:
            assert c.login(username).status_code == 303, f"{username} could not sign in"
        return c

    def code(self, username: str) -> str:
        """The code the user's app shows now. Each 30-second step signs in once (replay guard); tests
        sign the same person in many times a minute, so this moves their guard back, as if the next
        step had come. tests/test_portal_security.py checks the guard itself."""
        with self.sessions.begin() as s:
            s.execute(update(StaffUser).where(StaffUser.username == username).values(totp_last_step=None))
        return pyotp.TOTP(self.totp[username]).now()

    def referral(self, program_id: str = CDL, claimed_by: str | None = None) -> str:
        """A consented referral with its sealed phone number; optionally claimed by a user already."""
        phone = f"+1555{uuid.uuid4().int % 10**7:07d}"
        pseudonym = f"sms-{uuid.uuid4().hex}"
        with self.sessions.begin() as s:
            program = next(p for p in load_programs(s) if p.id == program_id)
            case = create_referral(s, pseudonym=pseudonym, program=program, need=program.needs[0],
                                   answers=Answers(zip_code="47104", age_band="25_54", language="es"),
                                   neighborhood=NEIGHBORHOOD, channel="sms")
            case.preferred_contact_time = CONTACT_TIME
            save_contact(s, pseudonym, "sms", self.vault.seal(phone))
            case_id = case.id
        self.phones[case_id] = phone
        if claimed_by:
            with self.sessions.begin() as s:
                cases.claim(s, s.get(ReferralCase, case_id), s.get(StaffUser, self.users[claimed_by]))
        return case_id

    def case(self, case_id: str) -> ReferralCase:
        with self.sessions() as s:
            return s.get(ReferralCase, case_id)

    def rows(self, model, *where) -> list:
        with self.sessions() as s:
            return list(s.scalars(select(model).where(*where)))


def portal_settings(db_url: str, **extra: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": db_url, "VAULT_KEY": VAULT_KEY, **extra})


VAULT_KEY = Fernet.generate_key().decode()


@functools.cache
def _password_hash() -> str:
    return accounts.hash_password(PASSWORD)


@pytest.fixture
def portal(db_url: str) -> Iterator[Portal]:
    """The portal on a migrated database with the sample directory and one account of each kind:
    two caseworkers and a supervisor of ORG, a caseworker of another organization, an analyst, an admin,
    and a spare caseworker for the admin to disable."""
    engine = make_engine(db_url)
    load_directory(engine, ROOT / "referrals/data/sample_directory.json", ROOT / "referrals/data/neighborhoods.csv")
    sessions = make_sessionmaker(engine)
    accounts = {"caseworker": ("caseworker", ORG), "cw2": ("caseworker", ORG), "supervisor": ("supervisor", ORG),
                "outsider": ("caseworker", OTHER_ORG), "analyst": ("analyst", None), "admin": ("admin", None),
                "spare": ("caseworker", ORG)}
    users, totp = {}, {}
    with sessions.begin() as s:
        # argon2 is slow on purpose (most of a second on a busy machine): the rows share one hash of
        # PASSWORD made once per run, under the test profile (tests/conftest.py); test_admin_creates_an_account
        # and the CLI tests hash for real.
        for name, (role, org) in accounts.items():
            # Enrolled already (tests/test_portal_security.py enrolls through the pages).
            totp[name] = pyotp.random_base32(32)
            user = StaffUser(username=name, role=role, organization=org, password_hash=_password_hash(),
                             active=True, failed_logins=0, totp_secret=totp[name], totp_enrolled_at=utcnow())
            s.add(user)
            s.flush()
            users[name] = user.id
    settings = portal_settings(db_url)
    running = RunningApp(make_app(settings, engine))
    try:
        yield Portal(running.url, engine, sessions, settings, Vault(VAULT_KEY), users, totp)
    finally:
        running.stop()
        engine.dispose()


# --- the authorization matrix -----------------------------------------------------------------

PUBLIC = "public"
ANY = frozenset(ROLES)
MFA = frozenset({"mfa-step"})  # only a session that passed the password and not yet the code
# What each route must allow. A new route makes test_every_route_is_in_the_matrix fail until it is here.
EXPECTED: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/static/{name}"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): ANY,
    ("GET", "/login/mfa"): MFA,
    ("POST", "/login/mfa"): MFA,
    ("GET", "/reauth"): ANY,
    ("POST", "/reauth"): ANY,
    ("GET", "/account"): ANY,
    ("POST", "/account/password"): ANY,
    ("POST", "/account/sessions/revoke"): ANY,
    ("POST", "/account/sessions/revoke-others"): ANY,
    ("POST", "/account/recovery-codes"): ANY,
    ("GET", "/"): ANY,
    ("GET", "/queue"): frozenset({"caseworker", "supervisor"}),
    ("GET", "/referrals/{id}"): frozenset({"caseworker", "supervisor"}),
    ("GET", "/referrals/{id}/contact"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/referrals/{id}/claim"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/referrals/{id}/steps"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/referrals/{id}/notes"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/referrals/{id}/assign"): frozenset({"supervisor"}),
    ("GET", "/audit"): frozenset({"supervisor", "admin"}),
    ("GET", "/crisis"): frozenset({"supervisor"}),
    ("GET", "/analyst"): frozenset({"analyst"}),
    ("GET", "/reports"): frozenset({"analyst", "supervisor", "admin"}),
    ("GET", "/reports/{period}"): frozenset({"analyst", "supervisor", "admin"}),
    ("GET", "/reports/{period}/r{revision}"): frozenset({"analyst", "supervisor", "admin"}),
    ("GET", "/admin/users"): frozenset({"admin"}),
    ("POST", "/admin/users"): frozenset({"admin"}),
    ("POST", "/admin/users/{id}/disable"): frozenset({"admin"}),
    ("POST", "/admin/users/{id}/enable"): frozenset({"admin"}),
    ("POST", "/admin/users/{id}/reset-mfa"): frozenset({"admin"}),
    ("GET", "/admin/directory"): frozenset({"admin"}),
    ("GET", "/live"): frozenset({"caseworker", "supervisor"}),
    ("GET", "/live/{id}"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/live/{id}/take"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/live/{id}/reply"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/live/{id}/close"): frozenset({"caseworker", "supervisor"}),
    ("GET", "/referrals/{id}/texts"): frozenset({"caseworker", "supervisor"}),
    ("POST", "/referrals/{id}/texts"): frozenset({"caseworker", "supervisor"}),
}


def app_routes() -> dict[tuple[str, str], object]:
    app = make_app(portal_settings("sqlite:///:memory:"))
    return {(r.method, r.resource.canonical): r.handler for r in app.router.routes() if r.method != "HEAD"}


def test_every_route_declares_its_roles_and_is_in_the_matrix():
    routes = app_routes()
    undeclared = [key for key, handler in routes.items() if declared_roles(handler) is None]
    assert undeclared == []
    assert set(routes) == set(EXPECTED), "add new routes to EXPECTED (and so to the matrix)"
    for key, handler in routes.items():
        declared = declared_roles(handler)
        assert (PUBLIC if declared == {"public"} else declared) == EXPECTED[key], key


def _prepare(p: Portal, key: tuple[str, str], role: str | None) -> tuple[str, dict, str | None]:
    """The concrete path, form data and referral id for one cell of the matrix, in the state where the
    request makes sense for that role (a referral to claim, a claimed one to record a step on, ...)."""
    method, template = key
    actor = role if role in ("caseworker", "supervisor") else "caseworker"
    ref = None
    if template == "/referrals/{id}/claim" or template == "/referrals/{id}/assign" or template == "/referrals/{id}":
        ref = p.referral()
    elif template.startswith("/referrals/{id}/"):
        ref = p.referral(claimed_by=actor)
    data = {
        "/referrals/{id}/steps": {"status": "contacted", "reason": "left a message"},
        "/referrals/{id}/notes": {"note": "asked about evening classes"},
        "/referrals/{id}/texts": {"template": "intro"} if method == "POST" else {},
        "/referrals/{id}/assign": {"user_id": str(p.users["cw2"])},
        "/admin/users": {"username": f"new-{uuid.uuid4().hex[:8]}", "role": "analyst", "organization": "",
                         "password": PASSWORD, "password2": PASSWORD},
        "/login": {"username": "analyst", "password": PASSWORD} if method == "POST" else {},
        "/reauth": {"password": PASSWORD, "code": p.code(role) if role else "123456", "next": "/"},
        "/account/password": {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                               "new_password2": NEW_PASSWORD},
        "/account/sessions/revoke": {"session": _other_session(p, role)},
    }.get(template, {})
    if "{period}" in template:
        _one_release(p)
    if template.startswith("/live/{id}"):
        ref_live = _live_conversation(p, taken_by=actor if template.endswith(("/reply", "/close")) else None)
        data = {"message": "hello"} if template.endswith("/reply") else {}
        return template.replace("{id}", ref_live), data, None
    path = (template.replace("{id}", ref or str(p.users["spare"])).replace("{name}", "portal.css")
            .replace("{period}", "2026-01").replace("{revision}", "1"))
    return path, data, ref


def _live_conversation(p: Portal, taken_by: str | None = None) -> str:
    """A web resident waiting for a person from ORG (or being answered by `taken_by`), for the live routes."""
    from referrals.residents import get_or_create_resident
    from referrals.models import LiveConversation

    with p.sessions.begin() as s:
        who = f"web-{uuid.uuid4().hex}"
        get_or_create_resident(s, who)
        row = LiveConversation(pseudonym=who, channel="web", language="en", team=ORG, need="employment",
                               status="active" if taken_by else "queued",
                               taken_by=p.users[taken_by] if taken_by else None)
        s.add(row)
        s.flush()
        return row.id


NEW_PASSWORD = "tangerine kayak under marble"
# Forms that answer with a page (200) when they work, rather than redirecting.
ANSWERS_WITH_A_PAGE = {("POST", "/account/recovery-codes")}


def _other_session(p: Portal, role: str | None) -> str:
    """Another signed-in session of the role's account (say, on their other computer), to sign out."""
    if role is None:
        return "0" * 64
    with p.sessions.begin() as s:
        _, row = accounts.start_session(s, s.get(StaffUser, p.users[role]), mfa_done=True)
        return row.id


def _undo_password_change(p: Portal) -> None:
    with p.sessions.begin() as s:
        s.execute(update(StaffUser).values(password_hash=_password_hash()))
def _one_release(p: Portal) -> None:
    """A published release (January 2026) for the report routes of the matrix."""
    from datetime import date, datetime, timezone

    from referrals.reports.releases import get_release, publish

    with p.sessions.begin() as s:
        if get_release(s, "2026-01") is not None:
            return
        for i in range(30):
            s.add(ReferralLogEntry(referral_id=str(uuid.uuid4()), resident_log_id=str(uuid.uuid4()),
                                   event="created", status="new", need="employment", program_id=CDL,
                                   neighborhood="Eastside", age_band="25_54", language="en", channel="sms",
                                   occurred_at=datetime(2026, 1, 1 + i % 28, 10, tzinfo=timezone.utc)))
        s.flush()
        publish(s, date(2026, 2, 2))


def _leaks(p: Portal, body: str) -> list[str]:
    secrets_ = [NEIGHBORHOOD, CONTACT_TIME, *p.phones, *p.phones.values(), "asked about evening classes"]
    return [s for s in secrets_ if s in body]


def _case_state(p: Portal, ref: str | None) -> tuple | None:
    if ref is None:
        return None
    case = p.case(ref)
    return case.status, case.claimed_by, len(p.rows(CaseEvent, CaseEvent.referral_id == ref))


def test_authorization_matrix_every_route_for_every_role(portal: Portal):
    clients = {role: portal.client(role) for role in ROLES}
    failures = []
    for key, allowed in EXPECTED.items():
        method, template = key
        for role in (None, *ROLES):
            if role is None:
                client = Client(portal.url)
                client.get("/login")  # holds the pre-sign-in token: still no way past the sign-in
            elif template in ("/login", "/logout"):
                client = portal.client(role)  # signing in or out would change the shared client
            else:
                client = clients[role]
            path, data, ref = _prepare(portal, key, role)
            before = _case_state(portal, ref)
            response = client.get(path) if method == "GET" else client.post(path, data)
            if template == "/account/password":
                _undo_password_change(portal)
            is_allowed = allowed == PUBLIC or (role is not None and role in allowed)
            status, location = response.status_code, response.headers.get("Location", "")
            cell = f"{method} {template} as {role or 'anonymous'}: {status} {location}"
            if is_allowed:
                # Pages answer 200; forms (and "/", and the login page once signed in) redirect onwards.
                onwards = status == 303 and (not location.startswith("/login") or template == "/logout"
                                             or location == "/login/mfa")
                ok = onwards if method == "POST" or template == "/" else status == 200 or (
                    template == "/login" and role is not None and onwards)
                if key in ANSWERS_WITH_A_PAGE:
                    ok = status == 200
                if not ok:
                    failures.append("refused " + cell)
            else:
                denied = status == 403 or (status == 303 and location.startswith("/login")) or (
                    allowed == MFA and status == 303 and location == "/")
                if not denied:
                    failures.append("allowed " + cell)
                if _leaks(portal, response.text):
                    failures.append(f"leaked {_leaks(portal, response.text)} in " + cell)
                if _case_state(portal, ref) != before:
                    failures.append("changed the case in " + cell)
    assert failures == [], "\n".join(failures)


def test_a_route_without_a_declaration_is_refused_even_to_an_admin(portal: Portal, db_url):
    app = make_app(portal_settings(db_url), portal.engine)

    async def undeclared(request):
        return web.Response(text="secret")
    app.router.add_get("/undeclared", undeclared)
    running = RunningApp(app)
    try:
        admin = Client(running.url, portal)
        assert admin.login("admin").status_code == 303
        response = admin.get("/undeclared")
        assert response.status_code == 403 and "secret" not in response.text
    finally:
        running.stop()


def test_caseworker_of_another_organization_cannot_find_the_referral(portal: Portal):
    ref = portal.referral(claimed_by="caseworker")
    new = portal.referral()
    outsider = portal.client("outsider")
    for path in (f"/referrals/{ref}", f"/referrals/{ref}/contact", f"/referrals/{new}"):
        response = outsider.get(path)
        assert response.status_code == 404 and not _leaks(portal, response.text)
    assert outsider.post(f"/referrals/{new}/claim").status_code == 404
    assert portal.case(new).status == "new"
    queue = outsider.get("/queue").text
    assert ref not in queue and new not in queue


# --- contact details ----------------------------------------------------------------------------

def test_contact_is_shown_only_to_the_claimer_and_a_supervisor_after_the_claim(portal: Portal):
    ref = portal.referral()
    phone = portal.phones[ref]
    cw, cw2, sup = portal.client("caseworker"), portal.client("cw2"), portal.client("supervisor")

    page = cw.get(f"/referrals/{ref}")
    assert page.status_code == 200 and phone not in page.text and NEIGHBORHOOD in page.text
    assert cw.get(f"/referrals/{ref}/contact").status_code == 403, "not before the claim"
    assert sup.get(f"/referrals/{ref}/contact").status_code == 403, "not even a supervisor before the claim"

    assert cw.post(f"/referrals/{ref}/claim").status_code == 303
    contact = cw.get(f"/referrals/{ref}/contact")
    assert contact.status_code == 200 and phone in contact.text
    assert phone not in cw.get(f"/referrals/{ref}").text, "the phone is on its own audited page only"

    other = cw2.get(f"/referrals/{ref}/contact")
    assert other.status_code == 404 and phone not in other.text
    assert phone in sup.get(f"/referrals/{ref}/contact").text

    views = portal.rows(AuditEntry, AuditEntry.action == "contact_view", AuditEntry.referral_id == ref)
    assert sorted(v.username for v in views) == ["caseworker", "supervisor"]


def test_no_audit_entry_holds_contact_data_or_typed_text(portal: Portal):
    ref = portal.referral()
    cw = portal.client("caseworker")
    cw.post(f"/referrals/{ref}/claim")
    cw.get(f"/referrals/{ref}/contact")
    cw.post(f"/referrals/{ref}/steps", {"status": "declined", "reason": "call me at 555-0199 instead"})
    cw.post(f"/referrals/{ref}/notes", {"note": "prefers her sister's number 555-0100"})
    text = " ".join(f"{e.action} {e.detail} {e.username}" for e in portal.rows(AuditEntry, AuditEntry.referral_id == ref))
    digits = re.sub(r"\D", "", portal.phones[ref])
    assert "contact_view" in text and "status" in text and "note" in text
    for secret in (portal.phones[ref], digits[-7:], "555-0199", "555-0100", "sister"):
        assert secret not in text


# --- steps, audit and the anonymous log ---------------------------------------------------------

def test_status_changes_are_audited_and_flow_into_the_anonymous_log(portal: Portal):
    ref = portal.referral()
    cw = portal.client("caseworker")
    assert cw.post(f"/referrals/{ref}/claim").status_code == 303
    assert cw.post(f"/referrals/{ref}/steps", {"status": "contacted", "reason": ""}).status_code == 303
    assert cw.post(f"/referrals/{ref}/steps", {"status": "enrolled", "reason": "starts Monday"}).status_code == 303

    case = portal.case(ref)
    assert case.status == "enrolled" and case.claimed_by == portal.users["caseworker"]
    log = portal.rows(ReferralLogEntry, ReferralLogEntry.referral_id == ref)
    assert [(r.event, r.status) for r in sorted(log, key=lambda r: r.id)] == [
        ("created", "new"), ("status", "claimed"), ("status", "contacted"), ("status", "enrolled")]
    with portal.sessions() as s:
        log_id = s.get(Resident, case.resident_pseudonym).log_id
    for row in log:
        assert (row.resident_log_id, row.need, row.program_id, row.neighborhood, row.age_band, row.language,
                row.channel) == (log_id, case.need, CDL, NEIGHBORHOOD, "25_54", "es", "sms")
    changes = portal.rows(AuditEntry, AuditEntry.referral_id == ref, AuditEntry.action == "status")
    assert sorted(e.detail for e in changes) == ["claimed -> contacted", "contacted -> enrolled", "new -> claimed"]
    assert {e.username for e in changes} == {"caseworker"}
    events = portal.rows(CaseEvent, CaseEvent.referral_id == ref, CaseEvent.status == "enrolled")
    assert [e.reason for e in events] == ["starts Monday"]


def test_a_step_on_an_earlier_date_is_logged_on_that_date(portal: Portal):
    ref = portal.referral(claimed_by="caseworker")
    with portal.sessions.begin() as s:  # the referral came in three days ago
        s.execute(update(ReferralCase).where(ReferralCase.id == ref)
                  .values(created_at=utcnow() - timedelta(days=3)))
    day = (utcnow() - timedelta(days=2)).date()
    cw = portal.client("caseworker")
    assert cw.post(f"/referrals/{ref}/steps", {"status": "contacted", "date": day.isoformat()}).status_code == 303
    row = portal.rows(ReferralLogEntry, ReferralLogEntry.referral_id == ref, ReferralLogEntry.status == "contacted")[0]
    assert models.as_utc(row.occurred_at).date() == day


@pytest.mark.parametrize("form, status, message", [
    ({"status": "declined", "reason": ""}, 400, "reason is required"),
    ({"status": "contacted", "date": "2999-01-01"}, 400, "cannot be in the future"),
    ({"status": "contacted", "date": "2020-01-01"}, 400, "before the referral was made"),
    ({"status": "contacted", "date": "yesterday"}, 400, "calendar date"),
    ({"status": "teleported"}, 400, "unknown step"),
    ({"status": "contacted", "reason": "x" * 501}, 400, "at most 500"),
])
def test_a_bad_step_is_refused_with_a_message_and_changes_nothing(portal: Portal, form, status, message):
    ref = portal.referral(claimed_by="caseworker")
    cw = portal.client("caseworker")
    response = cw.post(f"/referrals/{ref}/steps", form)
    assert response.status_code == status and message in response.text
    assert portal.case(ref).status == "claimed"
    assert len(portal.rows(ReferralLogEntry, ReferralLogEntry.referral_id == ref)) == 2


def test_a_closed_referral_takes_no_more_steps_and_leaves_the_queue(portal: Portal):
    ref = portal.referral(claimed_by="caseworker")
    cw = portal.client("caseworker")
    assert ref in cw.get("/queue").text
    assert cw.post(f"/referrals/{ref}/steps", {"status": "closed"}).status_code == 303
    again = cw.post(f"/referrals/{ref}/steps", {"status": "contacted"})
    assert again.status_code == 409 and "closed" in again.text
    assert ref not in cw.get("/queue").text
    assert portal.case(ref).status == "closed"


def test_two_claims_at_once_exactly_one_wins(portal: Portal):
    ref = portal.referral()
    first, second = portal.sessions(), portal.sessions()
    try:
        a, b = first.get(ReferralCase, ref), second.get(ReferralCase, ref)
        cases.claim(first, a, first.get(StaffUser, portal.users["caseworker"]))
        first.commit()
        with pytest.raises(cases.Conflict):
            cases.claim(second, b, second.get(StaffUser, portal.users["cw2"]))
        second.rollback()
    finally:
        first.close()
        second.close()
    assert portal.case(ref).claimed_by == portal.users["caseworker"]
    assert len(portal.rows(ReferralLogEntry, ReferralLogEntry.referral_id == ref,
                           ReferralLogEntry.status == "claimed")) == 1


def test_queue_shows_what_a_caseworker_needs_and_not_colleagues_cases(portal: Portal):
    new, mine, theirs = portal.referral(), portal.referral(claimed_by="caseworker"), portal.referral(claimed_by="cw2")
    page = portal.client("caseworker").get("/queue").text
    assert new in page and mine in page and theirs not in page
    for column in ("Need", "Program", "Neighborhood", "Language", "Preferred contact time", "Age", "Waiting"):
        assert f"<th>{column}</th>" in page
    assert NEIGHBORHOOD in page and CONTACT_TIME in page and "Commercial Driver" in page
    assert portal.phones[new] not in page and portal.phones[mine] not in page


def test_supervisor_sees_the_whole_organization_assigns_work_and_reads_the_audit_log(portal: Portal):
    new, theirs = portal.referral(), portal.referral(claimed_by="cw2")
    sup = portal.client("supervisor")
    page = sup.get("/queue").text
    assert new in page and theirs in page
    assert sup.get("/queue?status=bogus").status_code == 400
    assert sup.post(f"/referrals/{new}/assign", {"user_id": str(portal.users["caseworker"])}).status_code == 303
    assert portal.case(new).claimed_by == portal.users["caseworker"] and portal.case(new).status == "claimed"
    refused = sup.post(f"/referrals/{theirs}/assign", {"user_id": str(portal.users["outsider"])})
    assert refused.status_code == 400 and portal.case(theirs).claimed_by == portal.users["cw2"]
    assert new in portal.client("caseworker").get("/queue").text
    audit = sup.get("/audit")
    assert audit.status_code == 200 and "assigned to caseworker" in audit.text
    assert "outsider" not in audit.text, "another organization's sign-ins are not this supervisor's business"


# --- sessions -----------------------------------------------------------------------------------

def _session_rows(p: Portal, user: str) -> list[StaffSession]:
    return p.rows(StaffSession, StaffSession.user_id == p.users[user])


def _age_session(p: Portal, user: str, **ago: timedelta) -> None:
    with p.sessions.begin() as s:
        s.execute(update(StaffSession).where(StaffSession.user_id == p.users[user])
                  .values({name: utcnow() - delta for name, delta in ago.items()}))


def test_session_ends_after_30_idle_minutes(portal: Portal):
    cw = portal.client("caseworker")
    _age_session(portal, "caseworker", last_seen_at=timedelta(minutes=29))
    assert cw.get("/queue").status_code == 200, "29 minutes idle is still within the limit"
    _age_session(portal, "caseworker", last_seen_at=timedelta(minutes=31))
    response = cw.get("/queue")
    assert response.status_code == 303 and response.headers["Location"] == "/login?expired=1"
    assert _session_rows(portal, "caseworker") == []


def test_session_ends_12_hours_after_sign_in_however_active(portal: Portal):
    cw = portal.client("caseworker")
    _age_session(portal, "caseworker", created_at=timedelta(hours=11, minutes=59))
    assert cw.get("/queue").status_code == 200
    _age_session(portal, "caseworker", created_at=timedelta(hours=12, minutes=1))
    response = cw.get("/queue")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert _session_rows(portal, "caseworker") == []


def test_sign_in_always_makes_a_new_session_id(portal: Portal):
    """Session fixation: a cookie planted before sign-in, or an earlier session, never becomes the session."""
    victim = portal.client()
    victim.http.cookies.set("portal_session", "planted-by-an-attacker", domain="127.0.0.1", path="/")
    assert victim.login("caseworker").status_code == 303
    first = victim.http.cookies.get("portal_session")
    assert first and first != "planted-by-an-attacker"
    attacker = Client(portal.url)
    attacker.http.cookies.set("portal_session", "planted-by-an-attacker", domain="127.0.0.1", path="/")
    assert attacker.get("/queue").status_code == 303

    assert victim.login("caseworker").status_code == 303
    second = victim.http.cookies.get("portal_session")
    assert second != first and len(_session_rows(portal, "caseworker")) == 1, "the old session is gone"
    replay = Client(portal.url)
    replay.http.cookies.set("portal_session", first, domain="127.0.0.1", path="/")
    assert replay.get("/queue").status_code == 303


def test_the_database_never_holds_the_cookie_token(portal: Portal):
    cw = portal.client("caseworker")
    token = cw.http.cookies.get("portal_session")
    assert [row.id for row in _session_rows(portal, "caseworker")] != [token]
    assert all(len(row.id) == 64 for row in _session_rows(portal, "caseworker"))


def test_logout_deletes_the_session(portal: Portal):
    cw = portal.client("caseworker")
    token = cw.http.cookies.get("portal_session")
    assert len(_session_rows(portal, "caseworker")) == 1
    response = cw.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert _session_rows(portal, "caseworker") == []
    replay = Client(portal.url)
    replay.http.cookies.set("portal_session", token, domain="127.0.0.1", path="/")
    assert replay.get("/queue").status_code == 303


def test_cookie_is_httponly_and_samesite_strict_and_secure_only_over_https(portal: Portal, db_url):
    plain = Client(portal.url)
    plain.get("/login")
    response = plain.post("/login", {"username": "caseworker", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "portal_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie, "plain HTTP: a Secure cookie would never come back"

    spoofed = Client(portal.url)
    spoofed.get("/login", headers={"X-Forwarded-Proto": "https"})
    cookie = spoofed.post("/login", {"username": "caseworker", "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    assert "Secure" not in cookie, "X-Forwarded-Proto is ignored unless PORTAL_TRUST_PROXY is on"

    running = RunningApp(make_app(portal_settings(db_url, PORTAL_TRUST_PROXY="1"), portal.engine))
    try:
        https = {"X-Forwarded-Proto": "https"}
        form = requests.get(running.url + "/login", headers=https, timeout=30)
        assert "Secure" in form.headers["Set-Cookie"]
        token = form.cookies["portal_login_csrf"]  # a client library keeps Secure cookies off plain HTTP: send it
        login = requests.post(running.url + "/login", allow_redirects=False, headers=https, timeout=30,
                              cookies={"portal_login_csrf": token},
                              data={"username": "caseworker", "password": PASSWORD, "csrf_token": token})
        cookies = login.headers["Set-Cookie"]
        assert login.status_code == 303
        assert re.search(r"__Host-portal_session=[^;]+;[^,]*HttpOnly", cookies)
        assert "Secure" in cookies and "SameSite=Strict" in cookies
        assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        running.stop()


# --- CSRF ---------------------------------------------------------------------------------------

def test_post_without_the_csrf_token_is_refused(portal: Portal):
    ref = portal.referral()
    cw = portal.client("caseworker")
    assert cw.post(f"/referrals/{ref}/claim", token=False).status_code == 403
    assert cw.post(f"/referrals/{ref}/claim", {"csrf_token": "forged"}).status_code == 403
    assert portal.case(ref).status == "new"
    assert cw.post("/logout", token=False).status_code == 403
    assert len(_session_rows(portal, "caseworker")) == 1, "a forged logout does not end the session"
    admin = portal.client("admin")
    forged = admin.post("/admin/users", {"username": "mallory", "role": "admin", "password": PASSWORD,
                                         "password2": PASSWORD}, token=False)
    assert forged.status_code == 403 and not portal.rows(StaffUser, StaffUser.username == "mallory")
    # The header works for scripts; the right token goes through.
    assert cw.post(f"/referrals/{ref}/claim", token=False, headers={"X-CSRF-Token": cw.csrf}).status_code == 303


def test_login_form_without_its_token_is_refused(portal: Portal):
    anonymous = Client(portal.url)
    anonymous.get("/login")
    response = anonymous.post("/login", {"username": "caseworker", "password": PASSWORD}, token=False)
    assert response.status_code == 403 and not _session_rows(portal, "caseworker")


# --- sign-in -----------------------------------------------------------------------

# Throttling (which replaced the lock-out), MFA, password change, own sessions and re-authentication:
# tests/test_portal_security.py.


def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions(portal: Portal):
    spare = portal.client("spare")
    assert spare.get("/queue").status_code == 200
    admin = portal.client("admin")
    assert admin.post(f"/admin/users/{portal.users['spare']}/disable").status_code == 303
    assert spare.get("/queue").status_code == 303
    assert portal.client().login("spare").status_code == 401
    assert admin.post(f"/admin/users/{portal.users['admin']}/disable").status_code == 400, "not yourself"
    assert admin.post(f"/admin/users/{portal.users['spare']}/enable").status_code == 303
    assert portal.client().login("spare").status_code == 303


def test_admin_creates_an_account_and_bad_input_gets_a_message(portal: Portal):
    admin = portal.client("admin")
    short = admin.post("/admin/users", {"username": "kim", "role": "caseworker", "organization": ORG,
                                        "password": "short", "password2": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.text
    no_org = admin.post("/admin/users", {"username": "kim", "role": "caseworker", "organization": "",
                                         "password": PASSWORD, "password2": PASSWORD})
    assert no_org.status_code == 400 and "organization" in no_org.text
    made = admin.post("/admin/users", {"username": "kim", "role": "caseworker", "organization": ORG,
                                       "password": PASSWORD, "password2": PASSWORD})
    assert made.status_code == 303
    kim_signs_in = portal.client()
    first = kim_signs_in.login("kim")  # first sign-in: enrolls the app, then shows the recovery codes
    assert first.status_code == 200 and len(kim_signs_in.recovery_codes) == 10
    assert 'href="/queue"' in first.text
    taken = admin.post("/admin/users", {"username": "kim", "role": "analyst", "organization": "",
                                        "password": PASSWORD, "password2": PASSWORD})
    assert taken.status_code == 400 and "taken" in taken.text
    (kim,) = portal.rows(StaffUser, StaffUser.username == "kim")
    assert kim.password_hash.startswith("$argon2id$") and PASSWORD not in kim.password_hash


# --- other pages ----------------------------------------------------------------------------------

def test_health_check_and_unknown_pages(portal: Portal):
    anonymous = Client(portal.url)
    health = anonymous.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert anonymous.get("/no/such/page").status_code == 404
    assert anonymous.get("/static/..%2Fviews.py").status_code == 404
    css = anonymous.get("/static/portal.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_pages_forbid_outside_scripts_styles_and_framing(portal: Portal):
    page = portal.client("caseworker").get("/queue")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Server"] == "portal", "no framework version to look vulnerabilities up by"
    assert "http://" not in page.text and "https://" not in page.text, "no asset from another host"


def test_analyst_lands_on_the_reports_notice_and_admin_sees_the_directory(portal: Portal):
    analyst = portal.client("analyst")
    landing = analyst.get("/")
    assert landing.status_code == 303 and landing.headers["Location"] == "/analyst"
    assert 'href="/reports"' in analyst.get("/analyst").text
    directory = portal.client("admin").get("/admin/directory")
    assert directory.status_code == 200
    assert re.search(r'id="program-count">36<', directory.text)


def test_a_referral_id_that_does_not_exist_is_a_404_not_a_crash(portal: Portal):
    cw = portal.client("caseworker")
    missing = cw.get("/referrals/not-a-uuid")
    assert missing.status_code == 404 and "Sign out" in missing.text, "a page in the layout, still signed in"
    assert cw.post("/referrals/not-a-uuid/claim").status_code == 404
    assert cw.post(f"/referrals/{'x' * 500}/steps", {"status": "closed"}).status_code == 404


def test_migration_0003_goes_down_and_up(db_url):
    from alembic import command

    from referrals.store import alembic_config, upgrade

    command.downgrade(alembic_config(db_url), "0002")
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            assert s.scalar(select(func.count()).select_from(StaffUser)) == 0
    finally:
        engine.dispose()


def test_analyst_reads_the_equity_report_and_its_csv(portal: Portal):
    """Releases only: the list, a release with its charts, its CSV; no date range, no open period."""
    from datetime import datetime, timezone

    from referrals.reports.releases import publish
    from referrals.sample_data import load_sample_data

    load_sample_data(portal.engine, referrals=1500, seed=7, allow_real=True,
                     now=datetime(2026, 5, 10, tzinfo=timezone.utc))
    with portal.sessions.begin() as s:
        publish(s, datetime(2026, 2, 3).date())
    analyst = portal.client("analyst")
    listing = analyst.get("/reports")
    assert listing.status_code == 200 and 'href="/reports/FY2026"' not in listing.text
    assert 'href="/reports/2026-01"' in listing.text and 'href="/reports/FY2025-Q4"' in listing.text
    page = analyst.get("/reports/FY2025-Q4")
    assert page.status_code == 200
    assert page.text.count("<svg") >= 5 and 'role="img"' in page.text, "charts rendered server-side"
    assert "<table" in page.text and "/static/reports.css" in page.text
    assert "synthetic-" not in page.text and "+1555" not in page.text, "never a person"
    csv = analyst.get("/reports/FY2025-Q4/r1.csv")
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert b"\r\n" in csv.content and "attachment" in csv.headers["Content-Disposition"]
    for role in ("supervisor", "admin"):
        again = portal.client(role).get("/reports/FY2025-Q4/r1.csv")
        assert again.content == csv.content, "the same bytes for every role"
    assert analyst.get("/reports/FY2025-Q4.csv").content == csv.content
    # no date ranges, no open period, no crash on nonsense
    assert analyst.get("/reports", params={"from": "2026-01-02", "to": "2026-02-01"}).status_code == 400
    assert analyst.get("/reports/2026-01", params={"from": "2026-01-02"}).status_code == 400
    assert analyst.get("/reports.csv").status_code == 404
    for missing in ("/reports/2026-02", "/reports/2026-13", "/reports/FY2026-Q9", "/reports/2026-01/r9",
                    "/reports/2026-01/r0", "/reports/2026-01/rx.csv", "/reports/" + "9" * 300,
                    "/reports/%00", "/reports/FY2026"):
        assert analyst.get(missing).status_code == 404, missing
    assert portal.client("caseworker").get("/reports").status_code == 403


def test_supervisors_see_crisis_flags_of_their_organization_by_day_only(portal: Portal):
    from referrals.privacy import flag_crisis

    ref = portal.referral()  # a resident with a referral at ORG
    pseudonym = portal.case(ref).resident_pseudonym
    with make_sessionmaker(portal.engine).begin() as s:
        flag_crisis(s, pseudonym, "sms", "es")
        flag_crisis(s, "sms-0123456789abcdef", "web", "en")  # no referral anywhere
    page = portal.client("supervisor").get("/crisis")
    assert page.status_code == 200
    day = utcnow().date().isoformat()
    assert f"<td>{day}</td><td>sms</td><td>es</td><td>1</td>" in page.text
    assert "<td>web</td>" not in page.text, "a flag that concerns no referral of the organization"
    assert not re.search(r"\d{1,2}:\d{2}", page.text.split("<h1>", 1)[1]), "no time of day"
    assert pseudonym not in page.text and "sms-0123456789abcdef" not in page.text
    with make_sessionmaker(portal.engine).begin() as s:
        portal.totp["sup-other"] = pyotp.random_base32(32)
        other = StaffUser(username="sup-other", role="supervisor", organization=OTHER_ORG,
                          password_hash=_password_hash(), active=True, failed_logins=0,
                          totp_secret=portal.totp["sup-other"], totp_enrolled_at=utcnow())
        s.add(other)
    outside = portal.client("sup-other").get("/crisis")
    assert outside.status_code == 200 and "<td>sms</td>" not in outside.text
    assert portal.client("caseworker").get("/crisis").status_code == 403
    assert portal.client("admin").get("/crisis").status_code == 403


def test_supervisors_see_open_callback_requests_with_the_number_to_call(portal: Portal):
    from datetime import datetime, timezone

    from referrals.callbacks import parse_preferred_time, request_callback
    from referrals.residents import save_contact

    vault = portal.vault
    with make_sessionmaker(portal.engine).begin() as s:
        request_callback(s, "sms-callback-1", reason="crisis", channel="sms", language="es",
                         call_by=datetime(2026, 12, 3, 22, tzinfo=timezone.utc),
                         preferred=parse_preferred_time("mañana en la tarde"))
        save_contact(s, "sms-callback-1", "sms", vault.seal("+15550109988"))
    page = portal.client("supervisor").get("/crisis")
    assert page.status_code == 200 and "+15550109988" in page.text and "tomorrow afternoon" in page.text
    assert "sms-callback-1" not in page.text
    assert portal.client("caseworker").get("/crisis").status_code == 403
