"""Pseudonyms and the contact vault.

A phone number (or a web visitor's session id) never travels past the gateway. Everything behind it,
Rasa, the action server, the database, the logs, sees `pseudonym(...)`: a keyed HMAC-SHA256, so the
same number always maps to the same pseudonym while nobody without PSEUDONYM_KEY can test a guessed
number against it.

The contact vault is the one place a way to reach a resident is kept, encrypted with Fernet
(AES-128-CBC plus HMAC) under VAULT_KEY, and only once the resident consented to a referral. Deleting
the vault row (DELETE keyword, retention purge) leaves nothing that leads back to the person.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken


class KeyMissing(RuntimeError):
    """A secret the process needs is not configured; the message names the setting."""


def pseudonym(key: str, channel: str, address: str) -> str:
    """The pseudonym of `address` (an E.164 phone number, a web session id) on `channel`."""
    if not key:
        raise KeyMissing("PSEUDONYM_KEY is not set: run scripts/setup.sh or set it in the environment")
    normal = normalize_phone(address) if channel == "sms" else address.strip()
    digest = hmac.new(key.encode(), f"{channel}:{normal}".encode(), hashlib.sha256).hexdigest()
    return f"{channel}-{digest[:40]}"


def sender_proof(secret: str, sender: str) -> str:
    """HMAC of a conversation id under ACTIONS_SECRET: the gateway vouches that it issued `sender`."""
    return hmac.new(secret.encode(), f"sender:{sender}".encode(), hashlib.sha256).hexdigest()


def valid_sender_proof(secret: str, sender: str | None, proof: object) -> bool:
    if not secret or not sender or not isinstance(proof, str):
        return False
    return hmac.compare_digest(sender_proof(secret, sender).encode(), proof.encode("utf-8", "replace"))


def normalize_phone(number: str) -> str:
    """E.164 for US numbers typed loosely ("(555) 010-2000" -> "+15550102000"); others kept as digits."""
    digits = re.sub(r"\D", "", number or "")
    if len(digits) == 10:
        digits = "1" + digits
    return "+" + digits if digits else ""


class Vault:
    """Encrypts and decrypts contact details with VAULT_KEY (a Fernet key)."""

    def __init__(self, key: str):
        if not key:
            raise KeyMissing("VAULT_KEY is not set: run scripts/setup.sh or set it in the environment")
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise KeyMissing("VAULT_KEY is not a Fernet key (44 url-safe base64 characters); "
                             "make one with: python -c 'from cryptography.fernet import Fernet; "
                             "print(Fernet.generate_key().decode())'") from exc

    def seal(self, contact: str) -> str:
        return self._fernet.encrypt(contact.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise KeyMissing("a contact could not be decrypted: VAULT_KEY is not the key it was sealed with") from exc
