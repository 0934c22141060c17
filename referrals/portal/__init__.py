"""The caseworker portal (issue 5): staff sign in, work their organization's referral queue, see a
resident's contact details once they claimed the referral, record each step; supervisors assign work and
read the audit log; admins manage accounts. See docs/portal.md.

`make_app(settings, engine=None)` builds the aiohttp application; `python -m referrals portal` runs it.
"""

from referrals.portal.app import make_app

__all__ = ["make_app"]
