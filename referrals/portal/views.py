"""Request handlers: read the request, call the services (referrals.accounts, referrals.cases), render a page
or redirect (POST, then GET).

Object checks come on top of the role declarations: a referral outside what the user may see answers
404, so nobody learns that it exists; contact details need `cases.may_work` (referrals/cases.py) as well.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import date, datetime, time, timezone
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select, text

from referrals import accounts
from referrals import cases as casework  # `cases` is the queue's list of cases in the handlers
from referrals.accounts import StaffError
from referrals.cases import STATUSES, STEP_STATUSES
from referrals.models import ContactEntry, LoginThrottle, ProgramRow, ReferralCase, StaffUser, as_utc, utcnow
from referrals.portal import live as live_views
from referrals.portal.auth import (ANY_STAFF, LOGIN_CSRF_COOKIE, allow_pending, clear_cookie, client_address,
                                   fresh_login_csrf, mfa_step, public, reauth, roles, safe_next,
                                   session_cookie_name, session_token, set_cookie)
from referrals.portal.context import (SETTINGS, STAFF_SESSION, USER, current_user, db, pending_user, read_form, redirect,
                                      render)
from referrals.vault import KeyMissing, Vault

log = logging.getLogger("referrals.portal")

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png",
                ".woff2": "font/woff2"}
LANDING = {"caseworker": "/queue", "supervisor": "/queue", "analyst": "/analyst", "admin": "/admin/users"}
# One message for every failed sign-in: it must not tell whether the username exists.
LOGIN_FAILED = ("Sign-in failed. Check your username and password. After several failed attempts, the "
                "next ones must wait a little longer each time.")
CODE_FAILED = "That code did not work. Enter the 6-digit code your app shows now, or one of your recovery codes."


# --- public ---------------------------------------------------------------------------------------

@public
async def healthz(request: web.Request) -> web.Response:
    try:
        db(request).execute(text("select 1"))
    except Exception as exc:
        log.error("healthz: database unreachable (%s)", type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


@public
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    path = STATIC / name
    if (not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}", name) or path.suffix not in STATIC_TYPES
            or not path.is_file()):
        raise web.HTTPNotFound()
    return web.Response(body=path.read_bytes(), content_type=STATIC_TYPES[path.suffix],
                        headers={"Cache-Control": "max-age=3600"})


@public
async def login_form(request: web.Request) -> web.Response:
    user = current_user(request)
    if user is not None:
        return redirect(LANDING[user.role])
    fresh = fresh_login_csrf(request)
    response = render(request, "login.html", error=None, expired="expired" in request.query, username="")
    if fresh:
        set_cookie(request, response, LOGIN_CSRF_COOKIE, fresh)
    return response


def _throttled(request: web.Request, wait, template: str, **context) -> web.Response:
    seconds = max(1, int(wait.total_seconds() + 0.999))
    response = render(request, template, status=429, error=f"Too many attempts. Wait {seconds} seconds, then try "
                                                              "again.", **context)
    response.headers["Retry-After"] = str(seconds)
    return response


def _count_attempt(request: web.Request, limits: dict, user: StaffUser | None):
    """Count one attempt before any secret is checked (committed at once, so parallel requests see it);
    the wait when the attempt must not go on. Throttling that starts is audited once, not per attempt."""
    session = db(request)
    wait = accounts.throttle_attempt(session, limits)
    if not wait:
        for key, row in ((k, session.get(LoginThrottle, k)) for k in limits):
            if row is not None and row.blocked_until is not None and row.failures == limits[key][0]:
                kind = key.split(":", 1)[0]
                accounts.audit(session, user if kind != "address" else None, "throttled",
                            detail=(f"sign-ins from {key.split(':', 1)[1]}" if kind == "address" else f"{kind} checks")
                            + f" slowed after {row.failures} attempts")
    session.commit()
    return wait


@public
async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))[:4 * accounts.MAX_PASSWORD]
    session = db(request)
    shown = accounts._printable(username)[:80]
    known = accounts.find_user(session, username)
    limits = {accounts.address_key(client_address(request)): accounts.THROTTLE_ADDRESS,
              accounts.account_key(username): accounts.THROTTLE_ACCOUNT}
    wait = _count_attempt(request, limits, known)
    if wait:
        return _throttled(request, wait, "login.html", expired=False, username=shown)
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    user = await asyncio.to_thread(accounts.authenticate, session, username, password)
    if user is None:
        return render(request, "login.html", status=401, error=LOGIN_FAILED, expired=False, username=shown)
    accounts.forgive(session, accounts.account_key(username), reset=True)
    accounts.forgive(session, accounts.address_key(client_address(request)), reset=False)
    accounts.end_session(session, session_token(request))  # never carry a session across a sign-in
    token, _ = accounts.start_session(session, user, mfa_done=False, address=client_address(request),
                                   user_agent=request.headers.get("User-Agent"))
    accounts.audit(session, user, "password_ok", detail="second factor due")
    response = redirect("/login/mfa")
    set_cookie(request, response, session_cookie_name(request), token)
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


# --- the second factor ----------------------------------------------------------------------------

def _qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code, made here (segno): no outside service ever sees the
    secret, and an inline <svg> with presentation attributes passes the CSP (no style, no script)."""
    import segno
    from markupsafe import Markup

    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", title="QR code of your "
                                                "authenticator key", svgclass="qr")
    return Markup(svg)


def _enroll_view(request: web.Request, user: StaffUser, status: int = 200, error: str | None = None) -> web.Response:
    secret = accounts.enrollment_secret(db(request), user)
    return render(request, "mfa_enroll.html", status=status, error=error, qr=_qr_svg(accounts.provisioning_uri(user)),
                  secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), account=user.username,
                  issuer=accounts.TOTP_ISSUER)


@mfa_step
async def mfa_form(request: web.Request) -> web.Response:
    user = pending_user(request)
    if not user.mfa_enrolled:
        return _enroll_view(request, user)
    return render(request, "mfa.html", error=None)


@mfa_step
async def mfa_submit(request: web.Request) -> web.Response:
    user, session, form = pending_user(request), db(request), await read_form(request)
    code = str(form.get("code", ""))[:64]
    limits = {f"mfa:{user.id}": accounts.THROTTLE_MFA,
              accounts.address_key(client_address(request)): accounts.THROTTLE_ADDRESS}
    wait = _count_attempt(request, limits, user)
    if wait:
        if not user.mfa_enrolled:
            return _enroll_view(request, user, status=429, error=f"Too many attempts. Wait "
                                f"{max(1, int(wait.total_seconds() + .999))} seconds, then try again.")
        return _throttled(request, wait, "mfa.html")
    codes = None
    if not user.mfa_enrolled:
        codes = accounts.finish_enrollment(session, user, code)
        if codes is None:
            accounts.audit(session, user, "mfa_failed", detail="wrong code while enrolling")
            return _enroll_view(request, user, status=401, error="That code did not match. Check that your app "
                                "shows the account above, then enter the 6-digit code it shows now.")
        how = "totp"
    else:
        how = accounts.second_factor(session, user, code)
        if how is None:
            accounts.audit(session, user, "mfa_failed", detail="wrong code")
            return render(request, "mfa.html", status=401, error=CODE_FAILED)
    accounts.forgive(session, f"mfa:{user.id}", reset=True)
    accounts.forgive(session, accounts.address_key(client_address(request)), reset=False)
    # The session gains privileges: a new id (ASVS V3.2.1), the pending one is gone.
    accounts.end_session(session, session_token(request))
    token, row = accounts.start_session(session, user, mfa_done=True, address=client_address(request),
                                     user_agent=request.headers.get("User-Agent"))
    request[STAFF_SESSION] = row
    accounts.audit(session, user, "login", detail="recovery code" if how == "recovery" else "authenticator code")
    if codes is not None:
        request[USER] = user
        response = render(request, "recovery_codes.html", codes=codes, next=LANDING[user.role], first=True)
    else:
        response = redirect(LANDING[user.role])
    set_cookie(request, response, session_cookie_name(request), token)
    return response


# --- re-authentication ----------------------------------------------------------------------------

@roles(*ANY_STAFF)
async def reauth_form(request: web.Request) -> web.Response:
    return render(request, "reauth.html", error=None, next=safe_next(request.query.get("next")))


@roles(*ANY_STAFF)
async def reauth_submit(request: web.Request) -> web.Response:
    user, session, form = current_user(request), db(request), await read_form(request)
    back = safe_next(str(form.get("next", "")))
    limits = {accounts.account_key(user.username): accounts.THROTTLE_ACCOUNT, f"mfa:{user.id}": accounts.THROTTLE_MFA,
              accounts.address_key(client_address(request)): accounts.THROTTLE_ADDRESS}
    wait = _count_attempt(request, limits, user)
    if wait:
        return _throttled(request, wait, "reauth.html", next=back)
    password = str(form.get("password", ""))[:4 * accounts.MAX_PASSWORD]
    right = await asyncio.to_thread(accounts.verify_password, user, password)
    if not right or accounts.second_factor(session, user, str(form.get("code", ""))[:64]) is None:
        accounts.audit(session, user, "reauth_failed", detail="wrong password" if not right else "wrong code")
        return render(request, "reauth.html", status=401, next=back,
                      error="That did not work. Enter your password and the code your app shows now.")
    for key in limits:
        accounts.forgive(session, key, reset=not key.startswith("address:"))
    request[STAFF_SESSION].auth_at = utcnow()
    accounts.audit(session, user, "reauth")
    return redirect(back)


# --- one's own account ----------------------------------------------------------------------------

def _account_view(request: web.Request, status: int = 200, error: str | None = None,
                  notice: str | None = None) -> web.Response:
    user, session = current_user(request), db(request)
    return render(request, "account.html", status=status, error=error, notice=notice,
                  sessions=accounts.sessions_of(session, user), current=request[STAFF_SESSION].id,
                  codes_left=accounts.recovery_codes_left(session, user), now=utcnow(),
                  min_password=accounts.MIN_PASSWORD, max_password=accounts.MAX_PASSWORD)


NOTICES = {"password": "Your password is changed. Your other sessions were signed out.",
           "revoked": "That session is signed out.", "others": "All your other sessions are signed out."}


@roles(*ANY_STAFF)
async def account_page(request: web.Request) -> web.Response:
    return _account_view(request, notice=NOTICES.get(request.query.get("done", "")))


@roles(*ANY_STAFF)
async def change_password(request: web.Request) -> web.Response:
    user, session, form = current_user(request), db(request), await read_form(request)
    limits = {accounts.account_key(user.username): accounts.THROTTLE_ACCOUNT,
              accounts.address_key(client_address(request)): accounts.THROTTLE_ADDRESS}
    wait = _count_attempt(request, limits, user)
    if wait:
        return _account_view(request, status=429, error=f"Too many attempts. Wait "
                             f"{max(1, int(wait.total_seconds() + .999))} seconds, then try again.")
    new = str(form.get("new_password", ""))[:4 * accounts.MAX_PASSWORD]
    current = str(form.get("current_password", ""))[:4 * accounts.MAX_PASSWORD]
    # argon2 and zxcvbn in a thread; the database only here on the event loop (a write lock held by a
    # thread while the loop waits on the same database would stall every request).
    try:
        if not await asyncio.to_thread(accounts.verify_password, user, current):
            raise StaffError("the current password is not right")
        if new != str(form.get("new_password2", ""))[:4 * accounts.MAX_PASSWORD]:
            raise StaffError("the two new passwords differ")
        new_hash = await asyncio.to_thread(accounts.new_password_hash, new, user.username, current)
    except StaffError as exc:
        accounts.audit(session, user, "password_change_refused", detail="refused")
        return _account_view(request, status=400, error=str(exc))
    accounts.store_password(session, user, new_hash, request[STAFF_SESSION])
    accounts.audit(session, user, "password_changed", detail="own password; other sessions ended")
    for key in limits:
        accounts.forgive(session, key, reset=not key.startswith("address:"))
    return redirect("/account?done=password")


@roles(*ANY_STAFF)
async def revoke_session(request: web.Request) -> web.Response:
    user, session, form = current_user(request), db(request), await read_form(request)
    target = str(form.get("session", ""))[:64]
    if target == request[STAFF_SESSION].id:
        return await logout(request)
    if not accounts.revoke_session(session, user, target):
        return _account_view(request, status=404, error="There is no such session of yours (it may have ended).")
    accounts.audit(session, user, "session_revoked", detail="one of own sessions")
    return redirect("/account?done=revoked")


@roles(*ANY_STAFF)
async def revoke_other_sessions(request: web.Request) -> web.Response:
    user, session = current_user(request), db(request)
    n = accounts.revoke_other_sessions(session, user, request[STAFF_SESSION])
    accounts.audit(session, user, "session_revoked", detail=f"{n} other sessions")
    return redirect("/account?done=others")


@roles(*ANY_STAFF)
@reauth(accounts.REAUTH_ADMIN, then="/account")
async def new_recovery_codes(request: web.Request) -> web.Response:
    user = current_user(request)
    codes = accounts.new_recovery_codes(db(request), user)
    accounts.audit(db(request), user, "recovery_codes_renewed", detail=f"{len(codes)} new codes; old ones void")
    return render(request, "recovery_codes.html", codes=codes, next="/account", first=False)


# --- every signed-in role -------------------------------------------------------------------------

@roles(*ANY_STAFF)
@allow_pending
async def logout(request: web.Request) -> web.Response:
    session = db(request)
    accounts.audit(session, current_user(request) or pending_user(request), "logout")
    accounts.end_session(session, session_token(request))
    response = redirect("/login")
    clear_cookie(request, response, session_cookie_name(request))
    return response


@roles(*ANY_STAFF)
async def home(request: web.Request) -> web.Response:
    return redirect(LANDING[current_user(request).role])


# --- caseworkers and supervisors ------------------------------------------------------------------

@roles("caseworker", "supervisor")
async def queue_page(request: web.Request) -> web.Response:
    user, session = current_user(request), db(request)
    found = live_views.reference_search(request)  # ?ref=DF3D3CE3, the reference the resident was given
    if found is not None:
        return found
    status = request.query.get("status", "open") if user.role == "supervisor" else None
    if status not in (None, "open", "all", *STATUSES):
        return render(request, "error.html", status=400, title="Unknown filter",
                      message=f"Filter by one of: open, all, {', '.join(STATUSES)}.")
    cases, total = casework.queue(session, user, None if status == "all" else status)
    return render(request, "queue.html", cases=cases, total=total, shown=status, statuses=STATUSES,
                  names=_usernames(session, {c.claimed_by for c in cases}), now=utcnow(),
                  **live_views.queue_extras(request))


@roles("caseworker", "supervisor")
async def referral_page(request: web.Request) -> web.Response:
    case = _case(request)
    accounts.audit(db(request), current_user(request), "case_view", case.id)
    return _referral_view(request, case)


@roles("caseworker", "supervisor")
@reauth(accounts.REAUTH_CONTACT)
async def contact_page(request: web.Request) -> web.Response:
    user, session, case = current_user(request), db(request), _case(request)
    if not casework.may_work(user, case):
        accounts.audit(session, user, "access_denied", case.id, detail="contact details before a claim or of a colleague")
        return render(request, "error.html", status=403, title="Not allowed",
                      message="Contact details are shown only once the referral is claimed, and only to the "
                              "caseworker who claimed it or a supervisor of the organization.")
    entry = session.get(ContactEntry, case.resident_pseudonym)
    contact = None
    if entry is not None:
        try:
            contact = Vault.from_settings(request.app[SETTINGS]).open(entry.ciphertext)
        except KeyMissing as exc:
            return render(request, "error.html", status=503, title="Contact vault unavailable", message=str(exc))
    accounts.audit(session, user, "contact_view", case.id, detail=f"kind {entry.kind}" if entry else "none on file")
    return render(request, "contact.html", case=case, entry=entry, contact=contact)


@roles("caseworker", "supervisor")
async def claim(request: web.Request) -> web.Response:
    case = _case(request)
    return _act(request, case, lambda: casework.claim(db(request), case, current_user(request)))


@roles("caseworker", "supervisor")
async def record_step(request: web.Request) -> web.Response:
    case, form = _case(request), await read_form(request)

    def step() -> None:
        casework.record_step(db(request), case, current_user(request), str(form.get("status", "")),
                          str(form.get("reason", "")), on=_step_time(str(form.get("date", ""))))
    return _act(request, case, step)


@roles("caseworker", "supervisor")
async def add_note(request: web.Request) -> web.Response:
    case, form = _case(request), await read_form(request)
    return _act(request, case, lambda: casework.add_note(db(request), case, current_user(request),
                                                      str(form.get("note", ""))))


@roles("supervisor")
async def assign(request: web.Request) -> web.Response:
    case, form, session = _case(request), await read_form(request), db(request)

    def give() -> None:
        assignee = _user_by_id(session, str(form.get("user_id", "")))
        if assignee is None:
            raise StaffError("choose a colleague to assign the referral to")
        casework.claim(session, case, current_user(request), assignee=assignee)
    return _act(request, case, give)


@roles("supervisor", "admin")
async def audit_page(request: web.Request) -> web.Response:
    entries = accounts.audit_entries(db(request), current_user(request))
    return render(request, "audit.html", entries=entries)


@roles("supervisor")
async def crisis_page(request: web.Request) -> web.Response:
    """Crisis flags of residents who have a referral with the supervisor's organization, by day only.

    A flag of a resident with no referral there concerns no one here; and a minute timestamp next to the
    queue would tell which referral (and so which resident) it is.
    """
    from datetime import timedelta

    from referrals.models import CrisisFlag

    user, session = current_user(request), db(request)
    concerned = select(ReferralCase.resident_pseudonym).where(ReferralCase.organization == user.organization)
    rows = session.scalars(select(CrisisFlag)
                           .where(CrisisFlag.created_at >= utcnow() - timedelta(days=90),
                                  CrisisFlag.pseudonym.in_(concerned))
                           .order_by(CrisisFlag.created_at.desc()).limit(500)).all()
    by_day: dict[tuple, int] = {}
    for f in rows:
        key = (as_utc(f.created_at).date().isoformat(), f.channel, f.language)
        by_day[key] = by_day.get(key, 0) + 1
    return render(request, "crisis.html", flags=sorted(by_day.items(), reverse=True),
                  callbacks=_callbacks(request, session))


def _callbacks(request: web.Request, session) -> list[tuple[object, str]]:
    """Open callback requests (a person was accepted after the crisis reply), owed soonest first, with the
    number to call. Reading the numbers is audited like opening a case's contact."""
    from referrals.callbacks import open_requests

    requests = open_requests(session)
    if not requests:
        return []
    vault = Vault.from_settings(request.app[SETTINGS])
    out = []
    for req in requests:
        entry = session.get(ContactEntry, req.pseudonym)
        try:
            number = vault.open(entry.ciphertext) if entry else "none on file"
        except KeyMissing:
            number = "contact vault unavailable"
        out.append((req, number))
    accounts.audit(session, current_user(request), "callbacks_view", None, detail=f"{len(out)} open")
    return out


# --- analysts -------------------------------------------------------------------------------------

@roles("analyst")
async def analyst_page(request: web.Request) -> web.Response:
    return render(request, "analyst.html")


# --- equity reports (aggregate only) ----------------------------------------------------------------
#
# Releases only (referrals/reports/releases.py): whole, ended periods, computed by `python -m referrals
# report publish` and served as stored, the same bytes to every role. There is no date range to ask for.

REPORT_ROLES = ("analyst", "supervisor", "admin")
NOT_A_RELEASE = ("Reports are releases of whole months, fiscal quarters and fiscal years; there are no date "
                 "ranges. Pick a release from the list.")


def _release_or_404(request: web.Request, period: str, revision: str | None):
    from referrals.reports.calendar import PeriodError, parse_period
    from referrals.reports.releases import get_release, revisions

    if request.query:
        raise web.HTTPBadRequest(text=NOT_A_RELEASE + "\n")
    is_open = period.endswith("-open")
    try:
        label = parse_period(period.removesuffix("-open"), int(request.app[SETTINGS]["REPORT_FISCAL_YEAR_START"])).label
    except (PeriodError, ValueError):
        raise web.HTTPNotFound() from None
    label += "-open" if is_open else ""
    number = None
    if revision is not None:
        if not re.fullmatch(r"[1-9][0-9]{0,3}", revision):
            raise web.HTTPNotFound()
        number = int(revision)
    row = get_release(db(request), label, number)
    if row is None:
        raise web.HTTPNotFound()
    return row, revisions(db(request), label)


def _csv_response(row) -> web.Response:
    return web.Response(body=row.csv.encode("utf-8"), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="equity-{row.period}-r{row.revision}.csv"'})


@roles(*REPORT_ROLES)
async def reports_page(request: web.Request) -> web.Response:
    from referrals.reports.releases import list_releases

    if request.query:
        return render(request, "error.html", status=400, title="Not a release", message=NOT_A_RELEASE)
    return render(request, "reports.html", releases=list_releases(db(request)), release=None)


@roles(*REPORT_ROLES)
async def release_page(request: web.Request) -> web.Response:
    period, revision = request.match_info["period"], request.match_info.get("revision")
    as_csv = (revision or period).endswith(".csv")
    if as_csv:
        if revision:
            revision = revision.removesuffix(".csv")
        else:
            period = period.removesuffix(".csv")
    try:
        row, revs = _release_or_404(request, period, revision)
    except web.HTTPBadRequest:
        if as_csv:
            raise
        return render(request, "error.html", status=400, title="Not a release", message=NOT_A_RELEASE)
    if as_csv:
        return _csv_response(row)
    return render(request, "reports.html", releases=None, release=row, revisions=revs)


# --- admins ---------------------------------------------------------------------------------------

@roles("admin")
async def users_page(request: web.Request) -> web.Response:
    return _users_view(request)


@roles("admin")
@reauth(accounts.REAUTH_ADMIN, then="/admin/users")
async def create_user(request: web.Request) -> web.Response:
    form, session, admin = await read_form(request), db(request), current_user(request)
    fields = {k: str(form.get(k, "")) for k in ("username", "role", "organization")}
    try:
        if str(form.get("password", "")) != str(form.get("password2", "")):
            raise StaffError("the two passwords differ")
        username = accounts.check_username(fields["username"])
        password_hash = await asyncio.to_thread(accounts.new_password_hash, str(form.get("password", ""))[:1000],
                                                username)
        user = accounts.create_user(session, username, fields["role"], "", fields["organization"],
                                 password_hash=password_hash)
    except StaffError as exc:
        session.rollback()
        return _users_view(request, error=str(exc), form=fields, status=400)
    accounts.audit(session, admin, "user_created", detail=f"{user.username} ({user.role})")
    return redirect("/admin/users")


@roles("admin")
@reauth(accounts.REAUTH_ADMIN, then="/admin/users")
async def disable_user(request: web.Request) -> web.Response:
    return _set_active(request, False)


@roles("admin")
@reauth(accounts.REAUTH_ADMIN, then="/admin/users")
async def enable_user(request: web.Request) -> web.Response:
    return _set_active(request, True)


@roles("admin")
@reauth(accounts.REAUTH_ADMIN, then="/admin/users")
async def reset_mfa(request: web.Request) -> web.Response:
    session, admin = db(request), current_user(request)
    user = _user_by_id(session, request.match_info["id"])
    if user is None:
        raise web.HTTPNotFound()
    if user.id == admin.id:
        return _users_view(request, error="you cannot reset your own MFA here; renew your recovery codes on "
                                          "your account page, or ask another admin", status=400)
    accounts.reset_mfa(session, user)
    accounts.audit(session, admin, "mfa_reset", detail=f"{user.username}: app and recovery codes forgotten, "
                                                    "sessions ended")
    return redirect("/admin/users")


@roles("admin")
async def directory_page(request: web.Request) -> web.Response:
    session = db(request)
    rows = session.execute(select(ProgramRow.organization, ProgramRow.accepting_referrals, ProgramRow.loaded_at)
                           .where(ProgramRow.retired_at.is_(None))).all()  # retired: kept only for old cases
    count, accepting = len(rows), sum(1 for r in rows if r.accepting_referrals)
    loaded_at = max((r.loaded_at for r in rows), default=None)
    programs: dict[str, int] = {}
    for r in rows:
        programs[r.organization] = programs.get(r.organization, 0) + 1
    people = dict(session.execute(select(StaffUser.organization, func.count())
                                  .where(StaffUser.active.is_(True), StaffUser.organization.is_not(None))
                                  .group_by(StaffUser.organization)).all())
    orgs = [(org, programs.get(org, 0), people.get(org, 0)) for org in sorted(set(programs) | set(people))]
    return render(request, "admin_directory.html", count=count, accepting=accepting, loaded_at=loaded_at, orgs=orgs)


# --- helpers --------------------------------------------------------------------------------------

def _case(request: web.Request) -> ReferralCase:
    """The referral of the path, or 404 (and an `access_denied` audit entry) when it is not the user's to see."""
    raw, session, user = request.match_info["id"], db(request), current_user(request)
    case = session.get(ReferralCase, raw) if re.fullmatch(r"[0-9a-fA-F-]{1,36}", raw) else None
    if case is None or not casework.may_view(user, case):
        accounts.audit(session, user, "access_denied", case.id if case is not None else None,
                    detail=f"{request.method} referral outside their organization or work" if case is not None
                    else f"{request.method} no such referral")
        raise web.HTTPNotFound()
    return case


def _user_by_id(session, raw: str) -> StaffUser | None:
    """An account by its id from a form or path; anything but a plain number in range is no account."""
    if not re.fullmatch(r"[0-9]{1,9}", raw or ""):
        return None
    return session.get(StaffUser, int(raw))


def _act(request: web.Request, case: ReferralCase, change) -> web.Response:
    """Run a change on a case; on a refusal show the case again with the reason (400, or 409 on a conflict)."""
    try:
        change()
    except StaffError as exc:
        db(request).rollback()
        if isinstance(exc, casework.NotAllowed):
            accounts.audit(db(request), current_user(request), "access_denied", case.id,
                        detail=f"{request.method} {request.match_info.route.resource.canonical}: not theirs to change")
            return _referral_view(request, case, error=str(exc), status=403)
        return _referral_view(request, case, error=str(exc), status=409 if isinstance(exc, casework.Conflict) else 400)
    if not casework.may_view(current_user(request), case):  # e.g. a caseworker's case reassigned away
        return redirect("/queue")
    return redirect(f"/referrals/{case.id}")


def _referral_view(request: web.Request, case: ReferralCase, error: str | None = None,
                   status: int = 200) -> web.Response:
    user, session = current_user(request), db(request)
    return render(
        request, "referral.html", status=status, case=case, error=error, now=utcnow(),
        history=casework.case_history(session, case.id),
        claimer=session.get(StaffUser, case.claimed_by) if case.claimed_by else None,
        may_work=casework.may_work(user, case),
        colleagues=casework.colleagues(session, case.organization) if user.role == "supervisor" else [],
        steps=[s for s in STEP_STATUSES if s != case.status], reason_required=casework.REASON_REQUIRED,
        today=utcnow().date().isoformat())


def _step_time(value: str) -> datetime | None:
    """The moment a step happened: now when the date is today (or not given), else noon UTC of that date."""
    value = value.strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise StaffError("the date must be a calendar date like 2026-03-31") from None
    if day == utcnow().date():
        return None
    return datetime.combine(day, time(12), tzinfo=timezone.utc)


def _usernames(session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids))).all())


def _users_view(request: web.Request, error: str | None = None, form: dict[str, str] | None = None,
                status: int = 200) -> web.Response:
    session = db(request)
    return render(request, "admin_users.html", status=status, users=accounts.list_users(session), error=error,
                  form=form or {"username": "", "role": "caseworker", "organization": ""}, roles=accounts.ROLES,
                  organizations=accounts.known_organizations(session), now=utcnow())


def _set_active(request: web.Request, active: bool) -> web.Response:
    session, admin = db(request), current_user(request)
    user = _user_by_id(session, request.match_info["id"])
    if user is None:
        raise web.HTTPNotFound()
    if user.id == admin.id and not active:
        return _users_view(request, error="you cannot disable your own account", status=400)
    accounts.set_active(session, user, active)
    accounts.audit(session, admin, "user_enabled" if active else "user_disabled", detail=user.username)
    return redirect("/admin/users")
