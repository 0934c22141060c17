"""Vault keys: the start-up check, rotation, and making a new key.

    python -m referrals keys check           does every stored contact open with the configured keys?
    python -m referrals keys rotate          re-encrypt every contact under the newest key
    python -m referrals keys new [--id ID]   print a new key entry to put first in VAULT_KEYS

Rotation, step by step (docs/privacy.md): make a key, put it first in VAULT_KEYS (the old ones after it),
restart the processes (new contacts are sealed under the new key, old ones still open), run `keys rotate`,
then `keys check`, and only then drop the old key from VAULT_KEYS.

Why a start-up check: a well-formed but wrong key used to be accepted; every contact sealed before was
then unreadable and new ones were sealed under the wrong key. Processes that use the vault (gateway,
follow-ups, portal) call `check_vault` at start and refuse to run with a message that says what to do.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referrals.models import ContactEntry, utcnow
from referrals.vault import KeyMissing, Vault

CHECK_SAMPLE = 200  # the newest entries, at start; `keys check` reads them all


@dataclass(frozen=True)
class CheckResult:
    checked: int
    failed: int
    by_key: dict[str, int]


def check_entries(session: Session, vault: Vault, limit: int | None = None) -> CheckResult:
    query = select(ContactEntry.ciphertext).order_by(ContactEntry.updated_at.desc())
    if limit is not None:
        query = query.limit(limit)
    checked = failed = 0
    by_key: dict[str, int] = {}
    for sealed in session.scalars(query):
        checked += 1
        kid = Vault.key_id(sealed) or "none"
        by_key[kid] = by_key.get(kid, 0) + 1
        try:
            vault.open(sealed)
        except KeyMissing:
            failed += 1
    return CheckResult(checked, failed, by_key)


def check_vault(sessions: sessionmaker[Session], vault: Vault, limit: int | None = CHECK_SAMPLE) -> CheckResult:
    """Raise KeyMissing, with what to do, when the configured keys do not open what is stored."""
    with sessions() as session:
        result = check_entries(session, vault, limit)
    if result.failed:
        raise KeyMissing(
            f"the vault keys do not open {result.failed} of the {result.checked} newest stored contacts: "
            "VAULT_KEYS / VAULT_KEY is not the key they were sealed with. Refusing to start, so that no new "
            "contact is sealed under a wrong key. Put the key they were sealed with in VAULT_KEYS "
            "(newest first, e.g. 2027a:<new>,2026a:<old>), then run: python -m referrals keys check")
    return result


def rotate(sessions: sessionmaker[Session], vault: Vault) -> dict[str, int]:
    """Re-encrypt every vault entry under the newest key, in one transaction (all or nothing)."""
    counts = {"resealed": 0, "entries": 0}
    with sessions.begin() as session:
        for entry in session.scalars(select(ContactEntry).with_for_update()):
            counts["entries"] += 1
            entry.ciphertext, entry.updated_at = vault.reseal(entry.ciphertext), utcnow()
            counts["resealed"] += 1
    return counts


def new_key_entry(key_id: str | None = None) -> str:
    key_id = key_id or utcnow().strftime("%Y%m") + secrets.token_hex(2)
    return f"{key_id}:{Fernet.generate_key().decode()}"


def count_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ContactEntry)) or 0
