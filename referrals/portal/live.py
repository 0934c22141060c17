"""The live queue: residents who asked for a person, answered from the portal (referrals/live.py).

A conversation belongs to the team its need routed to, and the team is a staff organization: its
caseworkers and supervisors see the queue, any of them may take a waiting conversation (exactly one wins),
and the one who took it (or a supervisor of the team) replies and closes it. Staff answers go out as texts
through the real Twilio client on SMS (refused after STOP), and the web chat polls for them.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy.exc import OperationalError

from referrals import accounts, case_texts, cases, live, response_due
from referrals.models import StaffUser
from referrals.models import utcnow
from referrals.outbound import Outbound
from referrals.portal.auth import roles
from referrals.portal.context import SESSIONS, SETTINGS, db, read_form, redirect, render, staff_user
from referrals.privacy import is_opted_out
from referrals.vault import Vault

STAFF = ("caseworker", "supervisor")
MAX_REPLY = 1000
DELIVERY_LABELS = {"quiet_hours": "not texted: quiet hours", "no_consent": "not texted: no consent to be contacted",
                   "sent": "texted", "logged": "not texted (no Twilio account configured)",
                   "opted_out": "not texted: the resident texted STOP", "no_contact": "not texted: no number",
                   "failed": "not texted: Twilio refused or could not be reached", "web": "shown in the web chat"}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/live", live_queue)
    router.add_get("/live/{id}", live_page)
    router.add_post("/live/{id}/take", live_take)
    router.add_post("/live/{id}/reply", live_reply)
    router.add_post("/live/{id}/close", live_close)
    router.add_get("/referrals/{id}/texts", case_texts_page)
    router.add_post("/referrals/{id}/texts", send_case_text)


def _team(user: StaffUser) -> str:
    """The user's team: their organization, which every caseworker and supervisor has (accounts.create_user)."""
    if user.organization is None:
        raise RuntimeError(f"staff account {user.id} ({user.role}) has no organization")
    return user.organization


def _conversation(request: web.Request) -> live.LiveConversation:
    """The conversation in the path, if it is the user's team's; else 404 (nobody learns it exists)."""
    row = db(request).get(live.LiveConversation, request.match_info["id"][:36])
    if row is None or row.team != staff_user(request).organization:
        raise web.HTTPNotFound()
    return row


def _may_answer(request: web.Request, row: live.LiveConversation) -> bool:
    user = staff_user(request)
    return row.status == "active" and (row.taken_by == user.id or user.role == "supervisor")


async def _tell(request: web.Request, row: live.LiveConversation, sender: str, body: str) -> str:
    """Put `body` in the thread; on SMS text it too. The delivery, as recorded on the message."""
    session, settings = db(request), request.app[SETTINGS]
    message = live.add_message(session, row, sender, body, Vault.from_settings(settings).seal,
                               staff_id=staff_user(request).id if sender == "staff" else None)
    if row.channel == "sms":
        # Committed before the text goes out: no write lock is held while this request waits on Twilio
        # (on SQLite every other request's write would wait for it, on the same event loop).
        session.commit()
        outbound = Outbound(settings, request.app[SESSIONS])
        message.delivery = (await asyncio.to_thread(outbound.send, row.pseudonym, body, "live")).status
    else:
        message.delivery = "web"
    return message.delivery


@roles(*STAFF)
async def live_queue(request: web.Request) -> web.Response:
    user, session = staff_user(request), db(request)
    team = _team(user)
    rows = live.queue(session, team)
    usual = live.usual_wait(session, team)
    times = ({by: live.response_times(session, team, by) for by in ("language", "neighborhood")}
             if user.role == "supervisor" else {})
    return render(request, "live_queue.html", rows=rows, now=utcnow(), asked=live.asked_labels,
                  usual=round(usual.total_seconds() / 60) if usual else None, times=times,
                  report_days=live.REPORT_DAYS, report_min=live.REPORT_MIN)


@roles(*STAFF)
async def live_page(request: web.Request) -> web.Response:
    return _live_page(request)


def _live_page(request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
    """The conversation's page; with `status` and `error` when an action on it was refused."""
    row, session = _conversation(request), db(request)
    vault = Vault.from_settings(request.app[SETTINGS])
    thread = [(m, vault.open(m.sealed)) for m in live.messages(session, row.id)]
    taker = session.get(StaffUser, row.taken_by) if row.taken_by else None
    return render(request, "live_conversation.html", status=status, error=error, row=row, thread=thread,
                  taker=taker.username if taker else None, asked=live.asked_labels(row),
                  may_answer=_may_answer(request, row), now=utcnow(), delivery=DELIVERY_LABELS,
                  opted_out=row.channel == "sms" and is_opted_out(session, row.pseudonym))


@roles(*STAFF)
async def live_take(request: web.Request) -> web.Response:
    await read_form(request)
    row, user, session = _conversation(request), staff_user(request), db(request)
    conversation_id, user_id, team = row.id, user.id, _team(user)
    # The UPDATE opens its own transaction: on SQLite a transaction that has read first cannot wait for
    # another writer (it fails at once), one that starts with the write waits its turn.
    session.commit()
    try:
        won = live.take(session, conversation_id, user_id, team)
    except OperationalError:  # waited longer than the busy timeout
        session.rollback()
        won = False
        latest = session.get(live.LiveConversation, conversation_id)
        if latest is not None and latest.status == "queued":  # None: erased meanwhile (the page answers 404)
            return _live_page(request, status=503, error="The database was busy. Try again.")
    if not won:
        return _live_page(request, status=409, error="Someone else took this conversation, or it is no "
                                                     "longer waiting.")
    session.refresh(row)
    accounts.audit(session, user, "live_taken", detail=f"live conversation {row.id[:8]}")
    await _tell(request, row, "system", live.text(row.language, "taken", team=row.team))
    return redirect(f"/live/{row.id}")


@roles(*STAFF)
async def live_reply(request: web.Request) -> web.Response:
    form = await read_form(request)
    row = _conversation(request)
    if not _may_answer(request, row):
        return _live_page(request, status=409, error="Only the person who took this conversation can "
                                                     "answer it while it is open.")
    body = str(form.get("message", "")).strip()
    if not body or len(body) > MAX_REPLY:
        return _live_page(request, status=400, error=f"Write a message of 1 to {MAX_REPLY} characters.")
    await _tell(request, row, "staff", body)
    return redirect(f"/live/{row.id}")


@roles(*STAFF)
async def live_close(request: web.Request) -> web.Response:
    await read_form(request)
    row, user, session = _conversation(request), staff_user(request), db(request)
    if not _may_answer(request, row):
        return _live_page(request, status=409, error="Only the person who took this conversation can "
                                                          "close it.")
    conversation_id = row.id
    session.commit()  # the UPDATE starts its own transaction (see live_take)
    try:
        closed = live.close_answered(session, conversation_id, "answered")
    except OperationalError:  # waited longer than the busy timeout
        session.rollback()
        return _live_page(request, status=503, error="The database was busy. Try again.")
    if not closed:  # someone else closed it meanwhile: the resident is told once
        session.rollback()
        return _live_page(request, status=409, error="This conversation is closed already.")
    session.refresh(row)
    accounts.audit(session, user, "live_closed", detail=f"live conversation {row.id[:8]}")
    await _tell(request, row, "system", live.text(row.language, "closed"))
    return redirect("/live")


# --- texting a referred resident from the case ------------------------------------------------------

@roles(*STAFF)
async def case_texts_page(request: web.Request) -> web.Response:
    return _case_texts_page(request)


def _case_texts_page(request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
    """The case's texts; with `status` and `error` when a text was refused."""
    from referrals.portal.views import _case

    case, user, session = _case(request), staff_user(request), db(request)
    if not cases.may_work(user, case):
        raise web.HTTPNotFound()
    settings = request.app[SETTINGS]
    vault = Vault.from_settings(settings)
    messages = [(m, vault.open(m.sealed)) for m in case_texts.thread(session, case.id)]
    templates = {key: case_texts.template_text(case, key) for key in case_texts.TEMPLATES["en"]}
    return render(request, "case_texts.html", status=status, error=error, case=case, thread=messages,
                  templates=templates, labels=case_texts.TEMPLATE_LABELS, delivery=DELIVERY_LABELS,
                  reference=case_texts.reference(case), notice=DELIVERY_LABELS.get(request.query.get("sent", "")),
                  quiet=case_texts.quiet_now(settings["QUIET_HOURS"], settings["CITY_TIMEZONE"]),
                  opted_out=is_opted_out(session, case.resident_pseudonym))


@roles(*STAFF)
async def send_case_text(request: web.Request) -> web.Response:
    """Text the resident of a case the user works (the claimer or a supervisor): a template or own words."""
    from referrals.portal.views import _case

    form = await read_form(request)
    case, user, session = _case(request), staff_user(request), db(request)
    if not cases.may_work(user, case) or case.status == "closed":
        raise web.HTTPNotFound()
    key = str(form.get("template", ""))
    body = str(form.get("message", "")).strip() or (
        case_texts.template_text(case, key) if key in case_texts.TEMPLATES["en"] else "")
    if not body or len(body) > case_texts.MAX_TEXT:
        return _case_texts_page(request, status=400, error=f"Pick a template or write 1 to "
                                                           f"{case_texts.MAX_TEXT} characters.")
    settings = request.app[SETTINGS]
    if case_texts.quiet_now(settings["QUIET_HOURS"], settings["CITY_TIMEZONE"]):
        status = "quiet_hours"
    else:
        session.commit()  # no write lock held while Twilio is asked (see _tell)
        outbound = Outbound(settings, request.app[SESSIONS])
        status = (await asyncio.to_thread(outbound.send, case.resident_pseudonym, body, "caseworker")).status
    case_texts.add(session, case, "staff", body, Vault.from_settings(settings).seal, staff_id=user.id,
                   delivery=status)
    accounts.audit(session, user, "case_text", case.id, detail=status)
    return redirect(f"/referrals/{case.id}/texts?sent={status}")


# --- the referral queue: the resident's reference, and the promise's due day ----------------------------

def reference_search(request: web.Request) -> web.Response | None:
    """GET /queue?ref=DF3D3CE3: straight to that referral when the user may see it; else None (the queue
    shows 'not found'). The same answer whether it exists elsewhere or not at all."""
    ref = request.query.get("ref", "").strip()[:40]
    if not ref:
        return None
    user = staff_user(request)
    found = [c for c in response_due.by_reference(db(request), ref) if cases.may_view(user, c)]
    if len(found) == 1:
        return redirect(f"/referrals/{found[0].id}")
    return None


def queue_extras(request: web.Request) -> dict:
    """What queue.html needs beyond the cases: overdue and due-day functions, and the search asked for."""
    zone = request.app[SETTINGS]["CITY_TIMEZONE"]
    now = utcnow()
    return {"overdue": lambda c: response_due.overdue(c, zone, now),
            "due_on": lambda c: response_due.due_on(c, zone).strftime("%a, %b %-d"),
            "searched": request.query.get("ref", "").strip()[:40]}
