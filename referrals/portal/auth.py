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

from referrals.portal.context import DB, LOGIN_CSRF, SETTINGS, STAFF_SESSION, USER, csrf_token, render
from referrals.staff import ROLES, resume_session

log = logging.getLogger("referrals.portal")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = frozenset({"public"})
ANY_STAFF: tuple[str, ...] = ROLES
LOGIN_CSRF_COOKIE = "portal_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    found = resume_session(request[DB], token) if token else None
    if found is not None:
        request[STAFF_SESSION], request[USER] = found
    else:
        request[LOGIN_CSRF] = request.cookies.get(LOGIN_CSRF_COOKIE, "")

    route = request.match_info.route
    if request.match_info.http_exception is not None:
        return await handler(request)  # 404 / 405: nothing to protect
    allowed = declared_roles(route.handler)
    if allowed is None:
        log.error("route %s %s has no role declaration; denied", request.method, route.resource and route.resource.canonical)
        return forbidden(request)
    if allowed is not PUBLIC:
        user = request.get(USER)
        if user is None:
            if request.method not in SAFE_METHODS:
                return render(request, "error.html", status=403, title="Signed out",
                              message="Your session has ended. Sign in again.")
            response = web.Response(status=303, headers={
                "Location": "/login?expired=1" if token else "/login"})
            if token:
                clear_cookie(request, response, session_cookie_name(request))
            return response
        if user.role not in allowed:
            return forbidden(request)
    if request.method not in SAFE_METHODS and not await _csrf_ok(request):
        return render(request, "error.html", status=403, title="Form expired",
                      message="The form was missing its security token or it did not match. "
                              "Go back, reload the page and try again.")
    return await handler(request)


async def _csrf_ok(request: web.Request) -> bool:
    expected = csrf_token(request)
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = str((await request.post()).get("csrf_token", ""))
    return bool(expected) and bool(sent) and hmac.compare_digest(expected.encode(), sent.encode())


def fresh_login_csrf(request: web.Request) -> str | None:
    """Before sign-in: make the double-submit token the login form carries, if the visitor has none.

    Returns the new token, for the caller to set as cookie on its response; None when nothing is new.
    """
    if request.get(STAFF_SESSION) is not None or request.get(LOGIN_CSRF):
        return None
    request[LOGIN_CSRF] = secrets.token_urlsafe(32)
    return request[LOGIN_CSRF]
