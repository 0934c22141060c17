"""Every route of the portal, in one place. Each handler declares its roles (referrals/portal/auth.py)."""

from __future__ import annotations

from aiohttp import web

from referrals.portal import live, views


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", views.healthz)
    r.add_get("/static/{name}", views.static)
    r.add_get("/login", views.login_form)
    r.add_post("/login", views.login)
    r.add_post("/logout", views.logout)
    r.add_get("/login/mfa", views.mfa_form)
    r.add_post("/login/mfa", views.mfa_submit)
    r.add_get("/reauth", views.reauth_form)
    r.add_post("/reauth", views.reauth_submit)
    r.add_get("/account", views.account_page)
    r.add_post("/account/password", views.change_password)
    r.add_post("/account/sessions/revoke", views.revoke_session)
    r.add_post("/account/sessions/revoke-others", views.revoke_other_sessions)
    r.add_post("/account/recovery-codes", views.new_recovery_codes)
    r.add_get("/", views.home)
    r.add_get("/queue", views.queue_page)
    r.add_get("/referrals/{id}", views.referral_page)
    r.add_get("/referrals/{id}/contact", views.contact_page)
    r.add_post("/referrals/{id}/claim", views.claim)
    r.add_post("/referrals/{id}/steps", views.record_step)
    r.add_post("/referrals/{id}/notes", views.add_note)
    r.add_post("/referrals/{id}/assign", views.assign)
    r.add_get("/audit", views.audit_page)
    r.add_get("/crisis", views.crisis_page)
    r.add_get("/analyst", views.analyst_page)
    r.add_get("/reports", views.reports_page)
    r.add_get("/reports/{period}", views.release_page)
    r.add_get("/reports/{period}/r{revision}", views.release_page)
    r.add_get("/admin/users", views.users_page)
    r.add_post("/admin/users", views.create_user)
    r.add_post("/admin/users/{id}/disable", views.disable_user)
    r.add_post("/admin/users/{id}/enable", views.enable_user)
    r.add_post("/admin/users/{id}/reset-mfa", views.reset_mfa)
    r.add_get("/admin/directory", views.directory_page)
    live.add_routes(r)  # the live queue (referrals/portal/live.py)
