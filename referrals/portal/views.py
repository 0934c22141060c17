"""Request handlers: read the request, call referrals.staff, render a page or redirect (POST, then GET).

Object checks come on top of the role declarations: a referral outside what the user may see answers
404, so nobody learns that it exists; contact details need `staff.may_work` as well.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import date, datetime, time, timezone
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select, text

from referrals import staff
from referrals.db import ContactEntry, ProgramRow, ReferralCase, utcnow
from referrals.portal.auth import (ANY_STAFF, LOGIN_CSRF_COOKIE, clear_cookie, fresh_login_csrf, public, roles,
                                   session_cookie_name, session_token, set_cookie)
from referrals.portal.context import SETTINGS, current_user, db, redirect, render
from referrals.staff import STATUSES, STEP_STATUSES, StaffError, StaffUser
from referrals.vault import KeyMissing, Vault

log = logging.getLogger("referrals.portal")

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png",
                ".woff2": "font/woff2"}
LANDING = {"caseworker": "/queue", "supervisor": "/queue", "analyst": "/analyst", "admin": "/admin/users"}
# One message for every failed sign-in: it must not tell whether the username exists or is locked.
LOGIN_FAILED = ("Sign-in failed. Check your username and password. After 5 failed attempts in a row an "
                "account is locked for 15 minutes.")


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


@public
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))[:4 * staff.MAX_PASSWORD]
    session = db(request)
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    user = await asyncio.to_thread(staff.authenticate, session, username, password)
    if user is None:
        return render(request, "login.html", status=401, error=LOGIN_FAILED, expired=False, username=username[:80])
    staff.end_session(session, session_token(request))  # never carry a session across a sign-in
    token, _ = staff.start_session(session, user)
    staff.audit(session, user, "login")
    response = redirect(LANDING[user.role])
    set_cookie(request, response, session_cookie_name(request), token)
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


# --- every signed-in role -------------------------------------------------------------------------

@roles(*ANY_STAFF)
async def logout(request: web.Request) -> web.Response:
    session = db(request)
    staff.audit(session, current_user(request), "logout")
    staff.end_session(session, session_token(request))
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
    status = request.query.get("status", "open") if user.role == "supervisor" else None
    if status not in (None, "open", "all", *STATUSES):
        return render(request, "error.html", status=400, title="Unknown filter",
                      message=f"Filter by one of: open, all, {', '.join(STATUSES)}.")
    cases, total = staff.queue(session, user, None if status == "all" else status)
    return render(request, "queue.html", cases=cases, total=total, shown=status, statuses=STATUSES,
                  names=_usernames(session, {c.claimed_by for c in cases}), now=utcnow())


@roles("caseworker", "supervisor")
async def referral_page(request: web.Request) -> web.Response:
    return _referral_view(request, _case(request))


@roles("caseworker", "supervisor")
async def contact_page(request: web.Request) -> web.Response:
    user, session, case = current_user(request), db(request), _case(request)
    if not staff.may_work(user, case):
        return render(request, "error.html", status=403, title="Not allowed",
                      message="Contact details are shown only once the referral is claimed, and only to the "
                              "caseworker who claimed it or a supervisor of the organization.")
    entry = session.get(ContactEntry, case.resident_pseudonym)
    contact = None
    if entry is not None:
        try:
            contact = Vault(request.app[SETTINGS]["VAULT_KEY"]).open(entry.ciphertext)
        except KeyMissing as exc:
            return render(request, "error.html", status=503, title="Contact vault unavailable", message=str(exc))
    staff.audit(session, user, "contact_view", case.id, detail=f"kind {entry.kind}" if entry else "none on file")
    return render(request, "contact.html", case=case, entry=entry, contact=contact)


@roles("caseworker", "supervisor")
async def claim(request: web.Request) -> web.Response:
    case = _case(request)
    return _act(request, case, lambda: staff.claim(db(request), case, current_user(request)))


@roles("caseworker", "supervisor")
async def record_step(request: web.Request) -> web.Response:
    case, form = _case(request), await request.post()

    def step() -> None:
        staff.record_step(db(request), case, current_user(request), str(form.get("status", "")),
                          str(form.get("reason", "")), on=_step_time(str(form.get("date", ""))))
    return _act(request, case, step)


@roles("caseworker", "supervisor")
async def add_note(request: web.Request) -> web.Response:
    case, form = _case(request), await request.post()
    return _act(request, case, lambda: staff.add_note(db(request), case, current_user(request),
                                                      str(form.get("note", ""))))


@roles("supervisor")
async def assign(request: web.Request) -> web.Response:
    case, form, session = _case(request), await request.post(), db(request)

    def give() -> None:
        raw = str(form.get("user_id", ""))
        assignee = session.get(StaffUser, int(raw)) if raw.isdigit() else None
        if assignee is None:
            raise StaffError("choose a colleague to assign the referral to")
        staff.claim(session, case, current_user(request), assignee=assignee)
    return _act(request, case, give)


@roles("supervisor", "admin")
async def audit_page(request: web.Request) -> web.Response:
    entries = staff.audit_entries(db(request), current_user(request))
    return render(request, "audit.html", entries=entries)


@roles("supervisor", "admin")
async def crisis_page(request: web.Request) -> web.Response:
    from datetime import timedelta

    from referrals.privacy import CrisisFlag

    session = db(request)
    has_referral = select(func.count()).select_from(ReferralCase).where(
        ReferralCase.resident_pseudonym == CrisisFlag.pseudonym).correlate(CrisisFlag).scalar_subquery() > 0
    rows = session.execute(select(CrisisFlag, has_referral)
                           .where(CrisisFlag.created_at >= utcnow() - timedelta(days=90))
                           .order_by(CrisisFlag.created_at.desc()).limit(500)).all()
    return render(request, "crisis.html", flags=rows, callbacks=_callbacks(request, session))


def _callbacks(request: web.Request, session) -> list[tuple[object, str]]:
    """Open callback requests (a person was accepted after the crisis reply), owed soonest first, with the
    number to call. Reading the numbers is audited like opening a case's contact."""
    from referrals.callbacks import open_requests

    requests = open_requests(session)
    if not requests:
        return []
    vault = Vault(request.app[SETTINGS]["VAULT_KEY"])
    out = []
    for req in requests:
        entry = session.get(ContactEntry, req.pseudonym)
        try:
            number = vault.open(entry.ciphertext) if entry else "none on file"
        except KeyMissing:
            number = "contact vault unavailable"
        out.append((req, number))
    staff.audit(session, current_user(request), "callbacks_view", None, detail=f"{len(out)} open")
    return out


# --- analysts -------------------------------------------------------------------------------------

@roles("analyst")
async def analyst_page(request: web.Request) -> web.Response:
    return render(request, "analyst.html")


# --- equity reports (aggregate only) ----------------------------------------------------------------

REPORT_ROLES = ("analyst", "supervisor", "admin")


def _report(request: web.Request):
    from referrals.reports import report_from_query

    return report_from_query(db(request), request.query)


@roles(*REPORT_ROLES)
async def reports_page(request: web.Request) -> web.Response:
    from referrals.reports import ReportError
    from referrals.reports_html import report_page_html

    try:
        report = _report(request)
    except ReportError as exc:
        return render(request, "error.html", status=400, title="Report period", message=str(exc))
    query = request.query_string
    html = report_page_html(report, csv_href="/reports.csv" + (f"?{query}" if query else ""), form_action="/reports")
    return render(request, "reports.html", report_html=html)


@roles(*REPORT_ROLES)
async def reports_csv(request: web.Request) -> web.Response:
    from referrals.reports import ReportError, csv_bytes

    try:
        report = _report(request)
    except ReportError as exc:
        return web.Response(status=400, text=str(exc) + "\n")
    return web.Response(body=csv_bytes(report), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="equity-report.csv"'})


# --- admins ---------------------------------------------------------------------------------------

@roles("admin")
async def users_page(request: web.Request) -> web.Response:
    return _users_view(request)


@roles("admin")
async def create_user(request: web.Request) -> web.Response:
    form, session, admin = await request.post(), db(request), current_user(request)
    fields = {k: str(form.get(k, "")) for k in ("username", "role", "organization")}
    try:
        if str(form.get("password", "")) != str(form.get("password2", "")):
            raise StaffError("the two passwords differ")
        user = await asyncio.to_thread(staff.create_user, session, fields["username"], fields["role"],
                                       str(form.get("password", "")), fields["organization"])
    except StaffError as exc:
        session.rollback()
        return _users_view(request, error=str(exc), form=fields, status=400)
    staff.audit(session, admin, "user_created", detail=f"{user.username} ({user.role})")
    return redirect("/admin/users")


@roles("admin")
async def disable_user(request: web.Request) -> web.Response:
    return _set_active(request, False)


@roles("admin")
async def enable_user(request: web.Request) -> web.Response:
    return _set_active(request, True)


@roles("admin")
async def directory_page(request: web.Request) -> web.Response:
    session = db(request)
    rows = session.execute(select(ProgramRow.organization, ProgramRow.accepting_referrals, ProgramRow.loaded_at)).all()
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
    case = db(request).get(ReferralCase, request.match_info["id"][:64])
    if case is None or not staff.may_view(current_user(request), case):
        raise web.HTTPNotFound()
    return case


def _act(request: web.Request, case: ReferralCase, change) -> web.Response:
    """Run a change on a case; on a refusal show the case again with the reason (400, or 409 on a conflict)."""
    try:
        change()
    except StaffError as exc:
        db(request).rollback()
        return _referral_view(request, case, error=str(exc), status=409 if isinstance(exc, staff.Conflict) else 400)
    if not staff.may_view(current_user(request), case):  # e.g. a caseworker's case reassigned away
        return redirect("/queue")
    return redirect(f"/referrals/{case.id}")


def _referral_view(request: web.Request, case: ReferralCase, error: str | None = None,
                   status: int = 200) -> web.Response:
    user, session = current_user(request), db(request)
    return render(
        request, "referral.html", status=status, case=case, error=error, now=utcnow(),
        history=staff.case_history(session, case.id),
        claimer=session.get(StaffUser, case.claimed_by) if case.claimed_by else None,
        may_work=staff.may_work(user, case),
        colleagues=staff.colleagues(session, case.organization) if user.role == "supervisor" else [],
        steps=[s for s in STEP_STATUSES if s != case.status], reason_required=staff.REASON_REQUIRED,
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
    return render(request, "admin_users.html", status=status, users=staff.list_users(session), error=error,
                  form=form or {"username": "", "role": "caseworker", "organization": ""}, roles=staff.ROLES,
                  organizations=staff.known_organizations(session), now=utcnow(), is_locked=staff.is_locked)


def _set_active(request: web.Request, active: bool) -> web.Response:
    session, admin = db(request), current_user(request)
    raw = request.match_info["id"]
    user = session.get(StaffUser, int(raw)) if raw.isdigit() else None
    if user is None:
        raise web.HTTPNotFound()
    if user.id == admin.id and not active:
        return _users_view(request, error="you cannot disable your own account", status=400)
    staff.set_active(session, user, active)
    staff.audit(session, admin, "user_enabled" if active else "user_disabled", detail=user.username)
    return redirect("/admin/users")
