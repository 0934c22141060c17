"""Staff sign-in at OWASP ASVS 4.0.3 level 2 (issue 14), over HTTP against the real portal, real argon2,
real TOTP codes (pyotp, as an authenticator app computes them) and a real database (SQLite and PostgreSQL).

Each test is a finding of the review on main, or an attack a hostile user would try on the fix:
- the password alone never signs in; the first sign-in enrolls an app from a QR code the portal draws itself;
  a code works once; recovery codes work once; an admin's MFA reset is audited and forces a new enrollment;
- a stranger cannot lock a colleague out: failures slow the next attempt (never past a minute for a
  username), per address and per username alike, and a slowed attempt runs no argon2 at all;
- staff change their own password (common/breached ones refused), list and end their own sessions, and
  confirm password and code again before admin changes or, after a while, before a contact is decrypted;
- refused object access and case views land in the audit log;
- the inputs that made the portal answer 500 under fuzzing answer 4xx.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import segno
from sqlalchemy import update
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from referrals import accounts, models
from referrals.models import AuditEntry, LoginThrottle, RecoveryCode, StaffSession, StaffUser, utcnow
from referrals.portal import make_app
from tests.test_portal import (ORG, PASSWORD, Client, Portal, RunningApp, portal,  # noqa: F401  (fixture)
                               portal_settings)

STRONG = "lantern orbit velvet thimble"


def _audit(p: Portal, action: str, **where) -> list[AuditEntry]:
    conditions = [AuditEntry.action == action] + [getattr(AuditEntry, k) == v for k, v in where.items()]
    return p.rows(AuditEntry, *conditions)


def _new_user(p: Portal, username: str, role: str = "caseworker") -> int:
    """An account as `users add` makes it: a password, no authenticator app yet."""
    with p.sessions.begin() as s:
        user = accounts.create_user(s, username, role, STRONG, ORG if role in accounts.ORG_ROLES else None)
        return user.id


def _sessions(p: Portal, username: str) -> list[StaffSession]:
    return p.rows(StaffSession, StaffSession.user_id == p.users.get(username, -1))


def _age_auth(p: Portal, username: str, ago: timedelta) -> None:
    with p.sessions.begin() as s:
        s.execute(update(StaffSession).where(StaffSession.user_id == p.users[username])
                  .values(auth_at=utcnow() - ago))


def _wait_out_throttles(p: Portal) -> None:
    """As if the delays had passed."""
    with p.sessions.begin() as s:
        s.execute(update(LoginThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))


@pytest.fixture(autouse=True)
def slow_machine_safe_delays(monkeypatch):
    """The first delay is 5 s; a loaded CI machine can take longer than that between two sign-ins, and
    the tests would see the delay run out. Here it is 30 s (the schedule itself is checked below)."""
    monkeypatch.setattr(accounts, "THROTTLE_FIRST_DELAY", timedelta(seconds=30))


def test_delays_double_from_5_seconds_up_to_a_minute_for_a_username(monkeypatch):
    monkeypatch.undo()  # the real first delay, not the one patched for the HTTP tests
    free, cap = accounts.THROTTLE_ACCOUNT
    delays = [accounts.throttle_delay(n, free, cap).total_seconds() for n in range(free + 6)]
    assert delays == [0] * free + [5, 10, 20, 40, 60, 60]
    assert accounts.THROTTLE_ADDRESS[1] == accounts.THROTTLE_MFA[1] == timedelta(minutes=15)


@pytest.fixture
def proxied(portal: Portal, db_url: str):  # noqa: F811
    """The same portal behind a trusted proxy, so a test can come from several client addresses."""
    running = RunningApp(make_app(portal_settings(db_url, PORTAL_TRUST_PROXY="1"), portal.engine))
    try:
        yield running.url
    finally:
        running.stop()


def _from(url: str, p: Portal, address: str) -> Client:
    c = Client(url, p)
    c.http.headers["X-Forwarded-For"] = address
    return c


# --- MFA ------------------------------------------------------------------------------------------

def test_the_password_alone_never_signs_in(portal: Portal):  # noqa: F811
    ref = portal.referral()
    c = Client(portal.url)  # no authenticator app: stops after the password
    c.get("/login")
    first = c.post("/login", {"username": "caseworker", "password": PASSWORD})
    assert first.status_code == 303 and first.headers["Location"] == "/login/mfa"
    pending = c.http.cookies.get("portal_session")
    queue = c.get("/queue")
    assert queue.status_code == 303 and queue.headers["Location"] == "/login/mfa"
    assert c.get(f"/referrals/{ref}").status_code == 303
    c.get("/login/mfa")
    assert c.post(f"/referrals/{ref}/claim").status_code == 403
    assert portal.case(ref).status == "new"
    wrong = c.post("/login/mfa", {"code": "000000"})
    assert wrong.status_code == 401 and "did not work" in wrong.text
    assert _audit(portal, "mfa_failed", username="caseworker")
    right = c.post("/login/mfa", {"code": portal.code("caseworker")})
    assert right.status_code == 303 and right.headers["Location"] == "/queue"
    full = c.http.cookies.get("portal_session")
    assert full != pending, "a new session id once the second factor is done (ASVS 3.2.1)"
    assert len(_sessions(portal, "caseworker")) == 1, "the pending session is gone"
    assert c.get("/queue").status_code == 200


def test_a_pending_session_expires_after_ten_minutes(portal: Portal):  # noqa: F811
    c = Client(portal.url)
    c.get("/login")
    c.post("/login", {"username": "caseworker", "password": PASSWORD})
    with portal.sessions.begin() as s:
        s.execute(update(StaffSession).values(created_at=utcnow() - timedelta(minutes=11)))
    page = c.get("/login/mfa")
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")


def test_first_sign_in_enrolls_an_app_from_a_qr_code_drawn_by_the_portal(portal: Portal):  # noqa: F811
    _new_user(portal, "noor")
    c = Client(portal.url)
    c.get("/login")
    assert c.post("/login", {"username": "noor", "password": STRONG}).headers["Location"] == "/login/mfa"
    page = c.get("/login/mfa")
    assert page.status_code == 200 and "Set up your sign-in app" in page.text
    secret = re.search(r'id="secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    assert len(secret) == 32, "160-bit key"
    # The QR code is inline SVG made here: it encodes exactly the otpauth URI of this key, and the
    # page loads nothing from anywhere else.
    uri = pyotp.TOTP(secret).provisioning_uri(name="noor", issuer_name=accounts.TOTP_ISSUER)
    drawn = re.search(r"<svg.*?</svg>", page.text, re.S).group(0)
    expected = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff",
                                                     title="QR code of your authenticator key", svgclass="qr")
    assert drawn == expected
    assert "style=" not in drawn and "<script" not in drawn, "passes the CSP as it is"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert not re.search(r'(src|href)="https?://', page.text)
    assert c.get("/login/mfa").text.count(secret[:4]) >= 1, "a reload shows the same key"

    wrong = c.post("/login/mfa", {"code": "123456"})
    assert wrong.status_code == 401 and portal.rows(StaffUser, StaffUser.username == "noor")[0].totp_enrolled_at is None
    done = c.post("/login/mfa", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", done.text)
    assert len(set(codes)) == 10 and 'href="/queue"' in done.text
    assert c.get("/queue").status_code == 200, "signed in"
    (noor,) = portal.rows(StaffUser, StaffUser.username == "noor")
    assert noor.mfa_enrolled and _audit(portal, "mfa_enrolled", username="noor")
    stored = " ".join(r.code_hash for r in portal.rows(RecoveryCode, RecoveryCode.user_id == noor.id))
    assert all(code.replace("-", "") not in stored and code not in stored for code in codes), "hashed"
    pending = Client(portal.url)  # the next sign-in asks for a code, and shows no key
    pending.get("/login")
    pending.post("/login", {"username": "noor", "password": STRONG})
    again = pending.get("/login/mfa")
    assert 'id="secret"' not in again.text and "Enter your sign-in code" in again.text


def test_a_code_signs_in_only_once(portal: Portal):  # noqa: F811
    """A code read over someone's shoulder (or from a proxy log) is spent once it has been used."""
    code = portal.code("caseworker")
    first = Client(portal.url)
    first.get("/login")
    first.post("/login", {"username": "caseworker", "password": PASSWORD})
    first.get("/login/mfa")
    assert first.post("/login/mfa", {"code": code}).status_code == 303
    second = Client(portal.url)
    second.get("/login")
    second.post("/login", {"username": "caseworker", "password": PASSWORD})
    second.get("/login/mfa")
    replay = second.post("/login/mfa", {"code": code})
    assert replay.status_code == 401 and second.get("/queue").headers["Location"] == "/login/mfa"


def test_a_recovery_code_signs_in_once(portal: Portal):  # noqa: F811
    _new_user(portal, "rene")
    enrolling = portal.client()
    enrolling.login("rene", STRONG)
    codes = enrolling.recovery_codes
    assert len(codes) == 10
    lost_phone = Client(portal.url)
    lost_phone.get("/login")
    lost_phone.post("/login", {"username": "rene", "password": STRONG})
    lost_phone.get("/login/mfa")
    used = lost_phone.post("/login/mfa", {"code": codes[3].lower().replace("-", " ")})
    assert used.status_code == 303, "typed in lower case with spaces still works"
    assert "9" in lost_phone.get("/account").text.split('id="codes-left">')[1][:3]
    again = Client(portal.url)
    again.get("/login")
    again.post("/login", {"username": "rene", "password": STRONG})
    again.get("/login/mfa")
    assert again.post("/login/mfa", {"code": codes[3]}).status_code == 401, "each code works once"
    assert _audit(portal, "recovery_code_used", username="rene")[0].detail == "9 recovery codes left"


def test_an_admin_resets_someones_mfa_and_it_is_audited(portal: Portal):  # noqa: F811
    cw = portal.client("caseworker")
    admin = portal.client("admin")
    page = admin.get("/admin/users")
    assert f'/admin/users/{portal.users["caseworker"]}/reset-mfa' in page.text
    assert admin.post(f"/admin/users/{portal.users['caseworker']}/reset-mfa").status_code == 303
    assert cw.get("/queue").status_code == 303, "their sessions ended"
    (entry,) = _audit(portal, "mfa_reset")
    assert entry.username == "admin" and entry.detail.startswith("caseworker:")
    fresh = Client(portal.url)
    fresh.get("/login")
    fresh.post("/login", {"username": "caseworker", "password": PASSWORD})
    assert 'id="secret"' in fresh.get("/login/mfa").text, "they enroll a new app"
    own = admin.post(f"/admin/users/{portal.users['admin']}/reset-mfa")
    assert own.status_code == 400
    assert admin.post("/admin/users/99999999999999999999999/reset-mfa").status_code == 404


# --- throttling -----------------------------------------------------------------------------------

def test_a_stranger_cannot_lock_out_a_colleague(portal: Portal, proxied: str):  # noqa: F811
    stranger = _from(proxied, portal, "203.0.113.9")
    statuses = [stranger.login("caseworker", "not the password at all").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429], "the sixth try in a row must wait"
    slowed = stranger.login("caseworker", "not the password at all")
    assert slowed.status_code == 429 and 0 < int(slowed.headers["Retry-After"]) <= 60
    assert "Wait" in slowed.text
    # The owner, a moment later: the username is slowed down for a second or two, not locked.
    _wait_out_throttles(portal)
    owner = _from(proxied, portal, "198.51.100.20")
    assert owner.login("caseworker").status_code == 303
    # However long the stranger keeps at it, the username never waits more than a minute.
    for _ in range(12):
        _wait_out_throttles(portal)
        stranger.login("caseworker", "still not the password")
    (row,) = portal.rows(LoginThrottle, LoginThrottle.key == accounts.account_key("caseworker"))
    assert models.as_utc(row.blocked_until) - utcnow() <= timedelta(seconds=60)
    assert _audit(portal, "throttled", username="caseworker")


def test_a_slowed_attempt_runs_no_argon2(portal: Portal, monkeypatch):  # noqa: F811
    calls = []
    real = accounts._verify
    monkeypatch.setattr(accounts, "_verify", lambda h, p: calls.append(1) or real(h, p))
    c = Client(portal.url)
    for _ in range(5):
        assert c.login("supervisor", "wrong wrong wrong").status_code == 401
    assert len(calls) == 5
    for _ in range(10):
        assert c.login("supervisor", "wrong wrong wrong").status_code == 429
    assert len(calls) == 5, "no password hashing for a refused attempt"


def test_unknown_and_known_usernames_are_slowed_alike(portal: Portal, proxied: str):  # noqa: F811
    known = [_from(proxied, portal, "192.0.2.1").login("analyst", "nope nope nope").status_code for _ in range(7)]
    unknown = [_from(proxied, portal, "192.0.2.2").login("no-such-person", "nope nope nope").status_code
               for _ in range(7)]
    assert known == unknown == [401] * 5 + [429] * 2


def test_one_address_trying_many_usernames_is_slowed(portal: Portal, proxied: str):  # noqa: F811
    sprayer = _from(proxied, portal, "203.0.113.50")
    free, _ = accounts.THROTTLE_ADDRESS
    statuses = [sprayer.login(f"guess{i}", "Summer2026!!").status_code for i in range(free + 1)]
    assert statuses == [401] * free + [429]
    other = _from(proxied, portal, "198.51.100.77")
    assert other.login("caseworker").status_code == 303, "another address is not affected"
    assert any("203.0.113.50" in e.detail for e in _audit(portal, "throttled"))


def test_wrong_codes_are_slowed_too(portal: Portal):  # noqa: F811
    c = Client(portal.url)
    c.get("/login")
    c.post("/login", {"username": "cw2", "password": PASSWORD})
    c.get("/login/mfa")
    statuses = [c.post("/login/mfa", {"code": f"{n:06d}"}).status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]


# --- one's own account ----------------------------------------------------------------------------

def test_staff_change_their_own_password(portal: Portal):  # noqa: F811
    here, elsewhere = portal.client("spare"), portal.client("spare")
    breached = next(p for p in FREQUENCY_LISTS["passwords"] if len(p) >= 12)
    cases = [({"current_password": "wrong one, surely", "new_password": STRONG, "new_password2": STRONG},
              "current password is not right"),
             ({"current_password": PASSWORD, "new_password": "short", "new_password2": "short"}, "at least 12"),
             ({"current_password": PASSWORD, "new_password": breached, "new_password2": breached}, "breached"),
             ({"current_password": PASSWORD, "new_password": "spare1234567890", "new_password2": "spare1234567890"},
              "too easy to guess"),
             ({"current_password": PASSWORD, "new_password": STRONG, "new_password2": STRONG + "x"}, "differ")]
    for form, message in cases:
        refused = here.post("/account/password", form)
        assert refused.status_code == 400 and message in refused.text, message
        _wait_out_throttles(portal)
    done = here.post("/account/password", {"current_password": PASSWORD, "new_password": STRONG,
                                           "new_password2": STRONG})
    assert done.status_code == 303 and "password is changed" in here.get(done.headers["Location"]).text
    assert here.get("/queue").status_code == 200, "this session goes on"
    assert elsewhere.get("/queue").status_code == 303, "the other session ended"
    assert portal.client().login("spare").status_code == 401
    assert portal.client().login("spare", STRONG).status_code == 303
    assert _audit(portal, "password_changed", username="spare")


def test_staff_see_and_end_their_own_sessions_only(portal: Portal):  # noqa: F811
    laptop, phone = portal.client("caseworker"), portal.client("caseworker")
    colleague = portal.client("cw2")
    page = laptop.get("/account")
    assert page.status_code == 200 and page.text.count("/account/sessions/revoke\"") == 1
    assert "127.0.0.1" in page.text and "this session" in page.text
    (theirs,) = _sessions(portal, "cw2")
    stolen = laptop.post("/account/sessions/revoke", {"session": theirs.id})
    assert stolen.status_code == 404 and colleague.get("/queue").status_code == 200, "not someone else's"
    assert _current(portal, phone) in laptop.get("/account").text, "the phone's session is listed"
    assert laptop.post("/account/sessions/revoke", {"session": _current(portal, phone)}).status_code == 303
    assert phone.get("/queue").status_code == 303 and laptop.get("/queue").status_code == 200
    third = portal.client("caseworker")
    assert laptop.post("/account/sessions/revoke-others").status_code == 303
    assert third.get("/queue").status_code == 303 and len(_sessions(portal, "caseworker")) == 1
    assert _audit(portal, "session_revoked", username="caseworker")


def _current(p: Portal, c: Client) -> str:
    return accounts._session_id(c.http.cookies.get("portal_session"))


# --- re-authentication ----------------------------------------------------------------------------

def test_admin_changes_need_a_fresh_password_and_code(portal: Portal):  # noqa: F811
    admin = portal.client("admin")
    _age_auth(portal, "admin", timedelta(minutes=16))
    asked = admin.post(f"/admin/users/{portal.users['spare']}/disable")
    assert asked.status_code == 303 and asked.headers["Location"] == "/reauth?next=/admin/users"
    assert portal.rows(StaffUser, StaffUser.username == "spare")[0].active, "nothing changed"
    admin.get(asked.headers["Location"])
    wrong = admin.post("/reauth", {"password": PASSWORD, "code": "000000", "next": "/admin/users"})
    assert wrong.status_code == 401
    assert _audit(portal, "reauth_failed", username="admin")
    right = admin.post("/reauth", {"password": PASSWORD, "code": portal.code("admin"), "next": "/admin/users"})
    assert right.status_code == 303 and right.headers["Location"] == "/admin/users"
    admin.get("/admin/users")
    assert admin.post(f"/admin/users/{portal.users['spare']}/disable").status_code == 303
    assert not portal.rows(StaffUser, StaffUser.username == "spare")[0].active


def test_reauth_goes_back_only_to_a_page_of_the_portal(portal: Portal):  # noqa: F811
    admin = portal.client("admin")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        admin.get("/reauth")
        done = admin.post("/reauth", {"password": PASSWORD, "code": portal.code("admin"), "next": target})
        assert done.status_code == 303 and done.headers["Location"] == "/", target


def test_contacts_need_a_fresh_sign_in_after_an_hour(portal: Portal):  # noqa: F811
    ref = portal.referral(claimed_by="caseworker")
    cw = portal.client("caseworker")
    assert portal.phones[ref] in cw.get(f"/referrals/{ref}/contact").text, "fresh from signing in"
    _age_auth(portal, "caseworker", timedelta(minutes=61))
    asked = cw.get(f"/referrals/{ref}/contact")
    assert asked.status_code == 303 and asked.headers["Location"] == f"/reauth?next=/referrals/{ref}/contact"
    assert portal.phones[ref] not in asked.text
    assert len(_audit(portal, "contact_view", referral_id=ref)) == 1, "the second view did not happen"
    cw.get(asked.headers["Location"])
    back = cw.post("/reauth", {"password": PASSWORD, "code": portal.code("caseworker"),
                               "next": f"/referrals/{ref}/contact"})
    assert back.headers["Location"] == f"/referrals/{ref}/contact"
    assert portal.phones[ref] in cw.get(back.headers["Location"]).text


# --- audit of refusals and case views -------------------------------------------------------------

def test_refused_access_and_case_views_are_audited(portal: Portal):  # noqa: F811
    ref = portal.referral()
    outsider, analyst, cw = portal.client("outsider"), portal.client("analyst"), portal.client("caseworker")
    assert outsider.get(f"/referrals/{ref}").status_code == 404
    (denied,) = _audit(portal, "access_denied", referral_id=ref)
    assert denied.username == "outsider"
    assert analyst.get("/queue").status_code == 403
    assert any(e.detail == "role analyst: GET /queue" for e in _audit(portal, "access_denied", username="analyst"))
    assert cw.get(f"/referrals/{ref}/contact").status_code == 403  # not claimed yet
    assert _audit(portal, "access_denied", username="caseworker", referral_id=ref)
    assert cw.get(f"/referrals/{ref}").status_code == 200
    assert [e.username for e in _audit(portal, "case_view", referral_id=ref)] == ["caseworker"]
    supervisor = portal.client("supervisor").get("/audit").text
    assert "access denied" in supervisor and "case view" in supervisor


# --- what fuzzing broke on main -------------------------------------------------------------------

def test_a_sign_in_with_bytes_that_are_not_utf8_is_a_400(portal: Portal):  # noqa: F811
    c = Client(portal.url)
    c.get("/login")
    body = b"username=caseworker\xff\xfe&password=x&csrf_token=" + c.csrf.encode()
    response = c.http.post(portal.url + "/login", data=body, allow_redirects=False, timeout=30,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and "could not be read" in response.text
    bad_charset = c.http.post(portal.url + "/login", data=b"username=x", allow_redirects=False, timeout=30,
                              headers={"Content-Type": "application/x-www-form-urlencoded; charset=nope"})
    assert bad_charset.status_code == 400


def test_a_nul_in_the_username_is_a_failed_sign_in(portal: Portal):  # noqa: F811
    """PostgreSQL refuses NUL in text; on main the query raised and the portal answered 500."""
    c = Client(portal.url)
    for name in ("case\x00worker", "\x00", "admin\x00' --"):
        response = c.login(name, "whatever it is")
        assert response.status_code in (401, 429), repr(name)


def test_an_id_too_large_for_an_integer_is_a_404(portal: Portal):  # noqa: F811
    admin, sup = portal.client("admin"), portal.client("supervisor")
    for action in ("disable", "enable", "reset-mfa"):
        assert admin.post(f"/admin/users/{'9' * 30}/{action}").status_code == 404
        assert admin.post(f"/admin/users/{2 ** 31}/{action}").status_code == 404
    ref = portal.referral()
    assert sup.post(f"/referrals/{ref}/assign", {"user_id": "9" * 30}).status_code == 400
    assert sup.post(f"/referrals/{ref}/assign", {"user_id": "١٢"}).status_code == 400, "Arabic-Indic digits"


@pytest.mark.parametrize("query", [{"from": "9999-12-31"}, {"to": "0001-01-01"}, {"from": "0001-01-01"},
                                   {"to": "9999-12-31"}, {"from": "9999-12-31", "to": "9999-12-31"}])
def test_report_dates_at_the_ends_of_the_calendar_are_a_400(portal: Portal, query):  # noqa: F811
    """Reports are releases now (no date ranges): the old parameters get a clear 4xx, never a 500."""
    analyst = portal.client("analyst")
    for path in ("/reports", "/reports.csv", "/reports/2026-01"):
        response = analyst.get(path, params=query)
        assert response.status_code in (400, 404), (path, query, response.status_code)


def test_the_audit_log_holds_no_password_code_or_typed_username(portal: Portal):  # noqa: F811
    """ASVS 7.1.1: credentials never reach a log, not even a wrong password typed in the username box."""
    c = Client(portal.url)
    c.login("correct horse battery staple", "caseworker")  # the two boxes swapped
    c.login("caseworker", "hunter2 is my password")
    code = portal.code("caseworker")
    c.get("/login")
    c.post("/login", {"username": "caseworker", "password": PASSWORD})
    c.get("/login/mfa")
    c.post("/login/mfa", {"code": "314159"})
    c.post("/login/mfa", {"code": code})
    text = " ".join(f"{e.username} {e.action} {e.detail}" for e in portal.rows(AuditEntry))
    assert "login" in text and "mfa_failed" in text
    for secret in (PASSWORD, "correct horse", "hunter2", "314159", code, portal.totp["caseworker"]):
        assert secret not in text, secret


def test_migration_0002_security_goes_down_and_up(db_url):
    from alembic import command
    from sqlalchemy import func, select

    from referrals.db import make_engine, make_sessionmaker
    from referrals.store import alembic_config, upgrade

    command.downgrade(alembic_config(db_url), "0005")
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            assert s.scalar(select(func.count()).select_from(LoginThrottle)) == 0
            assert s.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    finally:
        engine.dispose()


def test_a_step_on_a_referral_nobody_claimed_is_refused_and_audited(portal: Portal):  # noqa: F811
    ref = portal.referral()
    cw = portal.client("caseworker")
    for path, form in ((f"/referrals/{ref}/steps", {"status": "enrolled", "reason": "x"}),
                       (f"/referrals/{ref}/notes", {"note": "hello"})):
        refused = cw.post(path, form)
        assert refused.status_code == 403 and "only the caseworker who claimed" in refused.text
    assert portal.case(ref).status == "new"
    denied = _audit(portal, "access_denied", username="caseworker", referral_id=ref)
    assert sorted(e.detail for e in denied) == ["POST /referrals/{id}/notes: not theirs to change",
                                                "POST /referrals/{id}/steps: not theirs to change"]


# --- the cost of a password hash (PASSWORD_HASH_PROFILE) ---------------------------------------------

@pytest.fixture
def fresh_hasher():
    """The process's hasher and dummy hash chosen again, before and after (tests/conftest.py picks `test`)."""
    accounts._hasher.cache_clear()
    accounts._dummy_hash.cache_clear()
    yield
    accounts._hasher.cache_clear()
    accounts._dummy_hash.cache_clear()


def test_production_hashes_with_the_strong_profile_and_refuses_an_unknown_one(monkeypatch, fresh_hasher):
    monkeypatch.delenv("PASSWORD_HASH_PROFILE", raising=False)
    strong = accounts._hasher()
    # argon2-cffi's default, RFC 9106 low-memory: 3 passes over 64 MiB with 4 lanes.
    assert (strong.time_cost, strong.memory_cost, strong.parallelism) == (3, 65536, 4)
    assert accounts.hash_password(STRONG).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    for typo in ("Test", "cheap", "weak", "strong "):
        monkeypatch.setenv("PASSWORD_HASH_PROFILE", typo)
        accounts._hasher.cache_clear()
        with pytest.raises(ValueError, match="PASSWORD_HASH_PROFILE must be one of strong, test"):
            accounts.hash_password(STRONG)


def test_either_profile_verifies_every_stored_hash():
    strong, cheap = accounts.password_hasher("strong"), accounts.password_hasher("test")
    made_strong, made_cheap = strong.hash(STRONG), cheap.hash(STRONG)
    assert cheap.verify(made_strong, STRONG) and strong.verify(made_cheap, STRONG)
    assert strong.check_needs_rehash(made_cheap) and not strong.check_needs_rehash(made_strong)


def test_a_test_profile_hash_is_made_strong_at_the_next_sign_in(engine, monkeypatch, fresh_hasher):
    from referrals.db import make_sessionmaker

    monkeypatch.setenv("PASSWORD_HASH_PROFILE", "test")
    with make_sessionmaker(engine).begin() as s:
        accounts.create_user(s, "kim", "analyst", STRONG)
    monkeypatch.setenv("PASSWORD_HASH_PROFILE", "strong")
    accounts._hasher.cache_clear()
    with make_sessionmaker(engine).begin() as s:
        assert "$m=8,t=1,p=1$" in accounts.find_user(s, "kim").password_hash
        assert accounts.authenticate(s, "kim", STRONG) is not None
    with make_sessionmaker(engine).begin() as s:
        assert "$m=65536,t=3,p=4$" in accounts.find_user(s, "kim").password_hash
        assert accounts.authenticate(s, "kim", STRONG) is not None
