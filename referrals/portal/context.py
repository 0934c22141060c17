"""What every handler reaches through the request: settings, the database session, the signed-in user,
and page rendering with the shared layout.

Pages added later (the equity reports) use the same helpers: `render(request, "page.html", ...)` for a
page in the common layout, `current_user(request)` for who is asking (`staff_user(request)` in a
`roles(...)` handler, where someone always is), `db(request)` for the request's database session
(committed by the portal when the handler returns, rolled back when it raises).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from referrals.config import Settings
from referrals.models import StaffSession, StaffUser, as_utc, utcnow
from referrals.cases import FHIR_TASK_STATUS

SETTINGS = web.AppKey("portal_settings", Settings)
SESSIONS = web.AppKey("portal_sessions", sessionmaker)
TEMPLATES = web.AppKey("portal_templates", jinja2.Environment)

DB = web.RequestKey("portal_db", Session)
USER = web.RequestKey("portal_user", StaffUser)
STAFF_SESSION = web.RequestKey("portal_staff_session", StaffSession)
LOGIN_CSRF = web.RequestKey("portal_login_csrf", str)
# The account of a session that has passed the password but not yet the TOTP step. It is not USER:
# nothing but the TOTP step (and signing out) treats it as signed in.
PENDING_USER = web.RequestKey("portal_pending_user", StaffUser)


def pending_user(request: web.Request) -> StaffUser | None:
    return request.get(PENDING_USER)


async def read_form(request: web.Request):
    """The request's form fields; a body that is not a well-formed form answers 400, never 500."""
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except (ValueError, UnicodeError, LookupError, AssertionError) as exc:  # bad bytes, bad charset, bad multipart
        raise web.HTTPBadRequest(text=f"the form could not be read ({type(exc).__name__})") from None


def db(request: web.Request) -> Session:
    return request[DB]


def current_user(request: web.Request) -> StaffUser | None:
    return request.get(USER)


def staff_user(request: web.Request) -> StaffUser:
    """The signed-in user of a handler declared with `roles(...)`: the auth middleware lets no request
    reach one without a user (a pending session only where `allow_pending` is declared, and then this
    is not the helper to use)."""
    user = request.get(USER)
    if user is None:
        raise RuntimeError("staff_user() called without a signed-in user: only for roles() handlers")
    return user


def csrf_token(request: web.Request) -> str:
    """The token forms must send back: the session's, or before sign-in the login cookie's."""
    staff_session = request.get(STAFF_SESSION)
    return staff_session.csrf_token if staff_session is not None else request.get(LOGIN_CSRF, "")


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(user=current_user(request), csrf_token=csrf_token(request),
                                             path=request.path, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def redirect(location: str) -> web.Response:
    """303 See Other, returned rather than raised so the request's transaction still commits."""
    return web.Response(status=303, headers={"Location": location})


def make_templates(directory: str) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=format_when, waited=format_waited, label=label)
    env.globals["fhir"] = FHIR_TASK_STATUS
    return env


def label(value: str | None) -> str:
    return (value or "").replace("_", " ")


def format_when(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def format_waited(value: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest sensible unit: '3 d 4 h', '5 h 10 min', '12 min'."""
    delta = max((now or utcnow()) - as_utc(value), timedelta(0))
    minutes = int(delta.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"
