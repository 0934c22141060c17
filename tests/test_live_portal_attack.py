"""The live desk in the portal under attack: staff racing each other on one conversation, another organization,
forged forms, markup in what residents write; and the retention purge taking the texts. The portal app on a
real migrated database of each kind (tests/test_portal.py's `portal`), no Rasa or gateway.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import select

from referrals import live
from referrals.models import HandoffLogEntry, LiveMessage
from tests.test_portal import ORG, portal  # noqa: F401  (a fixture)


# --- the portal: closing a conversation (the portal app on its own, no Rasa) ------------------------------

def _answered_conversation(portal, taker: str, channel: str = "sms") -> str:
    """A conversation of ORG's desk, taken by `taker`; its id."""
    team = live.Team(ORG, frozenset(), None, always=True)
    with portal.sessions.begin() as s:
        row = live.request_person(s, "live-attack-" + uuid.uuid4().hex, channel=channel, language="en", team=team,
                                  need=None, neighborhood=None, asked=[], crisis=False)
        assert live.take(s, row.id, portal.users[taker], ORG)
        return row.id


def test_two_staff_closing_at_once_close_it_once(portal):  # noqa: F811
    conversation = _answered_conversation(portal, "caseworker")
    staff = [portal.client("caseworker"), portal.client("supervisor")]
    for c in staff:
        assert c.get(f"/live/{conversation}").status_code == 200  # the page's CSRF token
    start, results = threading.Barrier(len(staff)), []

    def close(c):
        start.wait()
        results.append(c.post(f"/live/{conversation}/close").status_code)
    threads = [threading.Thread(target=close, args=(c,)) for c in staff]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [303, 409], results
    with portal.sessions() as s:
        said = [portal.vault.open(m.sealed) for m in s.scalars(select(LiveMessage).where(
            LiveMessage.conversation_id == conversation))]
        closings = s.scalars(select(HandoffLogEntry.outcome).where(HandoffLogEntry.event == "closed")).all()
    assert len([m for m in said if "chat with a person has ended" in m]) == 1, "the resident is told once"
    assert closings == ["answered"]
    # And nobody answers into the closed conversation.
    again = staff[1].post(f"/live/{conversation}/reply", {"message": "one more thing"})
    assert again.status_code == 409


def test_the_conversation_is_closed_to_others_forms_need_their_token_and_texts_stay_text(portal):  # noqa: F811
    conversation = _answered_conversation(portal, "caseworker", channel="web")
    attack = '<script>alert(1)</script><img src=x onerror=alert(2)>"\''
    with portal.sessions.begin() as s:
        live.add_message(s, s.get(live.LiveConversation, conversation), "resident", attack, portal.vault.seal)
    taker, colleague, outsider = (portal.client(n) for n in ("caseworker", "cw2", "outsider"))
    page = taker.get(f"/live/{conversation}")
    assert page.status_code == 200 and "<script>alert(1)" not in page.text and "onerror=alert(2)>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    # Another organization: nothing exists; a colleague who did not take it: may read, not answer or close.
    for path in ("", "/take", "/reply", "/close"):
        method = outsider.get if not path else outsider.post
        assert method(f"/live/{conversation}{path}", **({"data": {"message": "hi"}} if path else {})).status_code \
            == 404, path
    assert colleague.get(f"/live/{conversation}").status_code == 200
    assert colleague.post(f"/live/{conversation}/reply", {"message": "hi"}).status_code == 409
    assert colleague.post(f"/live/{conversation}/close").status_code == 409
    # The taker's own forms without the session's CSRF token (a cross-site form post): refused.
    for path in ("/take", "/reply", "/close"):
        assert taker.post(f"/live/{conversation}{path}", {"message": "hi"}, token=False).status_code == 403, path
        assert taker.post(f"/live/{conversation}{path}", {"message": "hi", "csrf_token": "x" * 43},
                          token=False).status_code == 403, path
    with portal.sessions() as s:
        assert s.get(live.LiveConversation, conversation).status == "active"
        assert [m.sender for m in live.messages(s, conversation)] == ["resident"], "nothing was added"


# --- privacy: the retention purge takes the texts (DELETE is tested through the gateway) ----------------

def test_retention_removes_live_threads_and_case_texts(db_url):
    from datetime import datetime, timezone

    from referrals.db import make_engine, make_sessionmaker
    from referrals.models import CaseMessage, ReferralCase
    from referrals.privacy import purge_expired
    from referrals.residents import get_or_create_resident
    from referrals import case_texts
    from referrals.vault import Vault
    from tests.test_portal import VAULT_KEY

    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    team, seal = live.Team(ORG, frozenset(), None, always=True), Vault(VAULT_KEY).seal
    long_ago = datetime(2025, 1, 5, 15, tzinfo=timezone.utc)
    try:
        with sessions.begin() as s:
            for who in ("gone", "still-here"):  # one resident inactive for the whole period, one active
                row = live.request_person(s, who, channel="sms", language="en", team=team, need=None,
                                          neighborhood=None, asked=[], crisis=False, now=long_ago)
                live.add_message(s, row, "resident", "my landlord", seal)
                get_or_create_resident(s, who).last_activity_at = (
                    long_ago if who == "gone" else datetime(2026, 11, 30, tzinfo=timezone.utc))
            case = ReferralCase(resident_pseudonym="gone", program_id="p", program_name="P", organization=ORG,
                                need="housing", language="en", channel="sms", created_at=long_ago,
                                updated_at=long_ago)
            s.add(case)
            s.flush()
            case_texts.add(s, case, "resident", "call me after 5", seal)
        with sessions.begin() as s:
            purged = purge_expired(s, days=180, now=datetime(2026, 12, 2, tzinfo=timezone.utc))
        assert purged["live_conversations"] == 2 and purged["referral_cases"] == 1
        with sessions() as s:
            assert s.scalars(select(LiveMessage)).all() == [] and s.scalars(select(CaseMessage)).all() == []
            assert s.scalars(select(live.LiveConversation)).all() == []
            assert len(s.scalars(select(HandoffLogEntry)).all()) == 2, "the anonymous events stay"
    finally:
        engine.dispose()



def test_the_live_page_refreshing_itself_does_not_keep_an_unattended_session_signed_in(portal):  # noqa: F811
    """static/live.js fetches the page every 4 s, marked X-Background-Refresh: that is no sign of a person,
    so the 30-minute idle timeout still signs out a caseworker who walked away from an open conversation."""
    from datetime import timedelta

    from sqlalchemy import update

    from referrals.accounts import SESSION_IDLE
    from referrals.models import StaffSession, utcnow

    conversation = _answered_conversation(portal, "caseworker", channel="web")
    taker = portal.client("caseworker")
    refresh = {"X-Background-Refresh": "1", "Accept": "text/html"}

    def idle_for(minutes: int) -> None:
        with portal.sessions.begin() as s:
            s.execute(update(StaffSession).where(StaffSession.user_id == portal.users["caseworker"])
                      .values(last_seen_at=utcnow() - timedelta(minutes=minutes)))

    def last_seen():
        with portal.sessions() as s:
            return s.scalar(select(StaffSession.last_seen_at).where(
                StaffSession.user_id == portal.users["caseworker"]))

    idle_for(29)
    before = last_seen()
    assert taker.get(f"/live/{conversation}", headers=refresh).status_code == 200
    assert last_seen() == before, "a background refresh is not activity"
    assert taker.get(f"/live/{conversation}").status_code == 200  # the caseworker reloads it: activity
    assert last_seen() > before
    idle_for(int(SESSION_IDLE.total_seconds() // 60) + 1)
    gone = taker.get(f"/live/{conversation}", headers=refresh)
    assert gone.status_code == 303 and gone.headers["Location"].startswith("/login")
