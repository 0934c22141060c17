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

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


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


KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
LEGACY_ID = "k0"  # the id of a key given the old way, as VAULT_KEY
_MAKE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def parse_keys(spec: str) -> list[tuple[str, Fernet]]:
    """`id:key,id:key,...` (newest first: it seals; all open) or one bare Fernet key (id `k0`)."""
    spec = (spec or "").strip()
    if not spec:
        raise KeyMissing("VAULT_KEYS (or VAULT_KEY) is not set: run scripts/setup.sh or set it in the environment")
    keys: list[tuple[str, Fernet]] = []
    for part in spec.split(","):
        part = part.strip()
        kid, _, key = part.rpartition(":") if ":" in part else (LEGACY_ID, "", part)
        if not KEY_ID_RE.match(kid):
            raise KeyMissing(f"vault key id {kid[:20]!r} must be 1-16 letters, digits, '-' or '_' "
                             "(VAULT_KEYS looks like: 2027a:<key>,2026a:<key>)")
        if kid in (k for k, _ in keys):
            raise KeyMissing(f"vault key id {kid!r} appears twice in VAULT_KEYS")
        try:
            keys.append((kid, Fernet(key.encode())))
        except (ValueError, TypeError) as exc:
            raise KeyMissing(f"vault key {kid!r} is not a Fernet key (44 url-safe base64 characters); "
                             f"make one with: {_MAKE_KEY}") from exc
    return keys


def vault_keys(settings) -> str:  # noqa: ANN001 (referrals.config.Settings; no import cycle)
    """VAULT_KEYS when set, else the single VAULT_KEY."""
    return settings["VAULT_KEYS"] or settings["VAULT_KEY"]


class Vault:
    """Encrypts and decrypts contact details under the vault keys (Fernet, several with ids: MultiFernet).

    A sealed value is `<key id>$<Fernet token>`, so rotation can tell what is still under an old key; a
    token without an id (sealed before key ids existed) is tried under every key.
    """

    def __init__(self, keys: str):
        self.keys = parse_keys(keys)
        self.current_id = self.keys[0][0]
        self._by_id = dict(self.keys)
        self._fernet = MultiFernet([f for _, f in self.keys])

    @classmethod
    def from_settings(cls, settings) -> "Vault":  # noqa: ANN001
        return cls(vault_keys(settings))

    def seal(self, contact: str) -> str:
        return f"{self.current_id}${self._fernet.encrypt(contact.encode()).decode()}"

    @staticmethod
    def key_id(sealed: str) -> str | None:
        kid, sep, _ = sealed.partition("$")
        return kid if sep else None

    def open(self, sealed: str) -> str:
        kid: str | None
        kid, sep, token = sealed.partition("$")
        if not sep:
            kid, token = None, sealed
        try:
            fernet = self._by_id.get(kid) if kid else None
            if fernet is not None:
                try:
                    return fernet.decrypt(token.encode()).decode()
                except InvalidToken:
                    pass  # fall through to every key: ids are labels, not a promise
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise KeyMissing("a contact could not be decrypted: none of the vault keys is the one it was "
                             f"sealed with (key id {kid or 'none'})") from exc

    def reseal(self, sealed: str) -> str:
        """The same contact sealed under the newest key (for `python -m referrals keys rotate`)."""
        return self.seal(self.open(sealed))
