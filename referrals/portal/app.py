"""The caseworker portal: an aiohttp application of its own, on its own port (PORTAL_HOST:PORTAL_PORT),
so a city can keep it on an internal network while the resident gateway is public.

Middleware order, outermost first: errors (a clean page, never a traceback), database session (one per
request: commit when the handler returns, roll back when it raises), pages for 404/405/413, then sign-in,
roles and CSRF (referrals/portal/auth.py). Security headers go on every response, error pages included.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from sqlalchemy.engine import Engine

from referrals.config import Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.portal.auth import auth_middleware, is_https
from referrals.portal.context import DB, SESSIONS, SETTINGS, STAFF_SESSION, TEMPLATES, USER, make_templates, render
from referrals.portal.routes import setup_routes

HERE = Path(__file__).resolve().parent
log = logging.getLogger("referrals.portal")

# Everything the pages use is served by the portal itself: no CDN, no inline script or style.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Outermost: whatever broke, the person gets a page and the log gets the error class, never data."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        resource = request.match_info.route.resource
        log.error("portal error on %s %s: %s", request.method, resource.canonical if resource else request.path,
                  type(exc).__name__)
        request.pop(USER, None)  # rolled back and detached: render the page without the account bar
        request.pop(STAFF_SESSION, None)
        return _error_page(request, 500, "Something went wrong",
                           "The portal could not finish this request. Nothing was changed. Try again.")


@web.middleware
async def http_error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Inside the database scope, so a 404 page still shows who is signed in."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in PAGES:
            return _error_page(request, exc.status, *PAGES[exc.status])
        raise


PAGES = {400: ("Bad request", "The request could not be read. Go back, reload the page and try again."),
         404: ("Not found", "There is no such page here, or it is not yours to see."),
         405: ("Method not allowed", "This page does not take that kind of request."),
         413: ("Too large", "The form sent was too large.")}


def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    try:
        return render(request, "error.html", status=status, title=title, message=message)
    except Exception:  # the template itself failed: plain text still tells the person something
        return web.Response(status=status, text=f"{title}. {message}")


@web.middleware
async def db_middleware(request: web.Request, handler) -> web.StreamResponse:
    with request.app[SESSIONS]() as session:
        request[DB] = session
        try:
            response = await handler(request)
        except BaseException:
            session.rollback()
            raise
        session.commit()
        return response


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h["Server"] = "portal"  # no framework or version to look up vulnerabilities by
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cache-Control", "no-store")  # pages may hold case data: never keep them in a cache
    if is_https(request):
        h.setdefault("Strict-Transport-Security", "max-age=31536000")


def make_app(settings: Settings, engine: Engine | None = None) -> web.Application:
    """The portal over `engine` (or a new engine on DATABASE_URL, disposed when the app stops).

    The schema must be migrated already (`python -m referrals portal` does it before starting).
    """
    app = web.Application(middlewares=[error_middleware, db_middleware, http_error_middleware, auth_middleware],
                          client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[TEMPLATES] = make_templates(str(HERE / "templates"))
    if engine is None:
        own = make_engine(settings.database_url)
        app[SESSIONS] = make_sessionmaker(own)

        async def dispose(_app: web.Application):
            yield
            own.dispose()
        app.cleanup_ctx.append(dispose)
    else:
        app[SESSIONS] = make_sessionmaker(engine)
    app.on_response_prepare.append(_security_headers)
    setup_routes(app)
    return app


def run(settings: Settings) -> int:
    """`python -m referrals portal`: migrate, then serve until Ctrl-C."""
    from referrals.store import upgrade

    try:
        port = int(settings["PORTAL_PORT"])
    except ValueError:
        print(f"PORTAL_PORT must be a port number, not {settings['PORTAL_PORT']!r}")
        return 2
    upgrade(settings.database_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host = settings["PORTAL_HOST"]
    print(f"caseworker portal on http://{host}:{port}/ (Ctrl-C to stop)")
    web.run_app(make_app(settings), host=host, port=port, print=None)
    return 0
