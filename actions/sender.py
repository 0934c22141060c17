"""Who an action call is for, and whether Rasa's call can be trusted to say so.

Two checks, because the action server acts on a resident's records:

- Only Rasa reaches it: actions/server.py refuses any request without the shared ACTIONS_SECRET.
- Rasa's REST channel lets any local caller pick the conversation id (`sender`). So the gateway (and the
  terminal shell) add `sender_proof`, an HMAC of the sender under ACTIONS_SECRET, to each message's
  metadata (bot/rasa_client.py); actions that write a resident's records (`action_create_referral`,
  `action_save_consents`) check it, and `action_save_consents` also checks that the referral in its
  `referral_id` slot is one of this sender's own.
"""

from __future__ import annotations

import os
import re

from rasa_sdk import Tracker

from referrals.vault import sender_proof, valid_sender_proof

SECRET_HEADER = "X-Actions-Secret"
# What a conversation id looks like in a log line, so it can be masked (gateway pseudonyms, shell, tests).
PSEUDONYM_RE = re.compile(r"\b(?:sms|web|terminal|test)-[0-9a-f]{12,64}\b")

__all__ = ["PSEUDONYM_RE", "SECRET_HEADER", "proven_sender", "sender_proof"]


def proven_sender(tracker: Tracker, secret: str | None = None) -> bool:
    """True when the latest message carries a proof that its sender id came from the gateway."""
    secret = os.environ.get("ACTIONS_SECRET", "") if secret is None else secret
    proof = (tracker.latest_message.get("metadata") or {}).get("sender_proof")
    return valid_sender_proof(secret, tracker.sender_id, proof)
