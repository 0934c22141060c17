"""Deny by default: every route declares who may use it, and the middleware enforces it.

Usage for any handler, including pages added later:

    @roles("supervisor", "admin")
    async def page(request): ...

    @public
    async def healthz(request): ...

A handler without a declaration answers 403 to everyone (and tests/test_portal.py fails on it).

Sessions follow OWASP ASVS 4.0.3 V3: a new random session on every sign-in (the old one, if any, is
deleted), the cookie is HttpOnly and SameSite=Strict, Secure and `__Host-` prefixed when the request came
over HTTPS (X-Forwarded-Proto counts only with PORTAL_TRUST_PROXY=1), idle timeout 30 minutes, absolute
lifetime 12 hours, and signing out deletes the session row.

MFA (issue 14): a correct password gives only a *pending* session, good for the TOTP step
(`@mfa_step` routes) and for signing out (`allow_pending`). Everything else treats it as signed out.
Routes marked `@reauth(window)` also need a full authentication (password and code) within `window`:
a GET goes to `/reauth?next=...`, a POST to `/reauth?next=<then>`.

Every refusal to a signed-in user (a role that may not use the route) is written to the audit log.

CSRF: every unsafe request must carry the session's token (form field `csrf_token` or header
`X-CSRF-Token`), compared in constant time. Before sign-in there is no session, so the login form uses a
double-submit cookie (`portal_login_csrf`) instead. SameSite=Strict is a second line, not the only one.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Awaitable, Callable

from aiohttp import web

from datetime import timedelta
from urllib.parse import quote

from referrals import accounts
from referrals.portal.context import (DB, LOGIN_CSRF, PENDING_USER, SETTINGS, STAFF_SESSION, USER, csrf_token,
                                      read_form, redirect, render)
from referrals.accounts import ROLES, needs_reauth, resume_session

log = logging.getLogger("referrals.portal")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = frozenset({"public"})
MFA_STEP = frozenset({"mfa-step"})
ANY_STAFF: tuple[str, ...] = ROLES
LOGIN_CSRF_COOKIE = "portal_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BACKGROUND_HEADER = "X-Background-Refresh"


def roles(*names: str) -> Callable[[Handler], Handler]:
    """Declare the roles that may call a handler (at least one)."""
    unknown = set(names) - set(ROLES)
    if not names or unknown:
        raise ValueError(f"roles() needs one or more of {ROLES}; got {names}")

    def declare(handler: Handler) -> Handler:
        handler.portal_roles = frozenset(names)  # type: ignore[attr-defined]
        return handler
    return declare


def public(handler: Handler) -> Handler:
    """Declare a handler open to everyone, signed in or not."""
    handler.portal_roles = PUBLIC  # type: ignore[attr-defined]
    return handler


def mfa_step(handler: Handler) -> Handler:
    """Declare a handler of the TOTP step: only for a session that passed the password and not yet the code."""
    handler.portal_roles = MFA_STEP  # type: ignore[attr-defined]
    return handler


def allow_pending(handler: Handler) -> Handler:
    """Let a pending session (password only) use this role-declared handler too (signing out)."""
    handler.portal_allow_pending = True  # type: ignore[attr-defined]
    return handler


def reauth(window: timedelta, then: str | None = None) -> Callable[[Handler], Handler]:
    """Require a full authentication within `window`; a POST goes back to `then` afterwards."""
    def declare(handler: Handler) -> Handler:
        handler.portal_reauth = (window, then)  # type: ignore[attr-defined]
        return handler
    return declare


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to: never another host (`//evil`, `/\\evil`, `https://...`)."""
    value = value or ""
    if (not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500
            or any(not c.isprintable() or c.isspace() for c in value)):
        return default
    return value


def client_address(request: web.Request) -> str:
    """The client's address; with PORTAL_TRUST_PROXY the one the proxy appended to X-Forwarded-For."""
    if request.app[SETTINGS]["PORTAL_TRUST_PROXY"].strip().lower() in {"1", "true", "yes", "on"}:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if forwarded:
            return forwarded[-1][:64]
    return (request.remote or "")[:64]


def declared_roles(handler: object) -> frozenset[str] | None:
    return getattr(handler, "portal_roles", None)


def is_https(request: web.Request) -> bool:
    if request.scheme == "https":
        return True
    if request.app[SETTINGS]["PORTAL_TRUST_PROXY"].strip().lower() in {"1", "true", "yes", "on"}:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return forwarded == "https"
    return False


def session_cookie_name(request: web.Request) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless Secure, Path=/ and no Domain.
    return "__Host-portal_session" if is_https(request) else "portal_session"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, samesite="Strict", secure=is_https(request))


def clear_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/", httponly=True, samesite="Strict", secure=is_https(request))


def session_token(request: web.Request) -> str:
    return request.cookies.get(session_cookie_name(request), "")


def forbidden(request: web.Request) -> web.Response:
    return render(request, "error.html", status=403, title="Not allowed",
                  message="Your account does not have access to this page.")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the signed-in user, then let the request through only if the route's declaration allows."""
    token = session_token(request)
    # A page refreshing itself (static/live.js) says so: that is not the caseworker at the keyboard, and an
    # unattended live conversation page must still sign out after the idle timeout.
    background = request.headers.get(BACKGROUND_HEADER) == "1"
    found = resume_session(request[DB], token, touch=not background) if token else None
    if found is not None:
        request[STAFF_SESSION] = found[0]
        if found[0].mfa_at is None:
            request[PENDING_USER] = found[1]
        else:
            request[USER] = found[1]
    else:
        request[LOGIN_CSRF] = request.cookies.get(LOGIN_CSRF_COOKIE, "")

    route = request.match_info.route
    if request.match_info.http_exception is not None:
        return await handler(request)  # 404 / 405: nothing to protect
    allowed = declared_roles(route.handler)
    if allowed is None:
        log.error("route %s %s has no role declaration; denied", request.method, route.resource and route.resource.canonical)
        return forbidden(request)
    pending = request.get(PENDING_USER)
    if allowed is MFA_STEP:
        if request.get(USER) is not None:
            return redirect("/")
        if pending is None:
            return _to_sign_in(request, token)
    elif allowed is not PUBLIC:
        user = request.get(USER)
        if user is None and pending is not None and getattr(route.handler, "portal_allow_pending", False):
            user = pending
        if user is None:
            if pending is not None:  # the password was right; the code is still due
                if request.method in SAFE_METHODS:
                    return redirect("/login/mfa")
                return render(request, "error.html", status=403, title="Finish signing in",
                              message="Enter the code from your authenticator app first.")
            return _to_sign_in(request, token)
        if user.role not in allowed:
            resource = route.resource.canonical if route.resource else "?"
            accounts.audit(request[DB], user, "access_denied", detail=f"role {user.role}: {request.method} {resource}")
            return forbidden(request)
    if request.method not in SAFE_METHODS and not await _csrf_ok(request):
        return render(request, "error.html", status=403, title="Form expired",
                      message="The form was missing its security token or it did not match. "
                              "Go back, reload the page and try again.")
    wanted = getattr(route.handler, "portal_reauth", None)
    if wanted is not None and request.get(USER) is not None and needs_reauth(request[STAFF_SESSION], wanted[0]):
        back = request.path_qs if request.method in SAFE_METHODS else (wanted[1] or "/")
        return redirect("/reauth?next=" + quote(safe_next(back), safe="/"))
    return await handler(request)


def _to_sign_in(request: web.Request, token: str) -> web.Response:
    if request.method not in SAFE_METHODS:
        return render(request, "error.html", status=403, title="Signed out",
                      message="Your session has ended. Sign in again.")
    response = web.Response(status=303, headers={"Location": "/login?expired=1" if token else "/login"})
    if token:
        clear_cookie(request, response, session_cookie_name(request))
    return response


async def _csrf_ok(request: web.Request) -> bool:
    expected = csrf_token(request)
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = str((await read_form(request)).get("csrf_token", ""))
    return bool(expected) and bool(sent) and hmac.compare_digest(expected.encode(), sent.encode())


def fresh_login_csrf(request: web.Request) -> str | None:
    """Before sign-in: make the double-submit token the login form carries, if the visitor has none.

    Returns the new token, for the caller to set as cookie on its response; None when nothing is new.
    """
    if request.get(STAFF_SESSION) is not None or request.get(LOGIN_CSRF):
        return None
    request[LOGIN_CSRF] = secrets.token_urlsafe(32)
    return request[LOGIN_CSRF]
