"""Staff accounts: passwords, sign-in throttling, the second factor (TOTP and recovery codes), portal
sessions and the audit log. Each function takes a session first and works in the caller's transaction.

The staff side (issue 5): nothing here is imported by the conversation. The work done on referral cases
is in referrals/cases.py, the `users` command in referrals/cli/staff.py.

Design decisions:
- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile). There is no
  default account and no default password: the first account is made on the command line.
- The hashing cost is a setting, like Django's test hashers: PASSWORD_HASH_PROFILE is `strong` (the default,
  above) or `test` (argon2-cffi's CHEAPEST profile), which only tests/conftest.py sets, so the test suite
  does not spend minutes on argon2. Any other value is refused, so a typo never weakens the hashes. A hash
  carries its own parameters, so either profile verifies every stored hash, and a hash made under `test`
  is made again under `strong` at the account's next sign-in (`check_needs_rehash`).
- A session row's id is the SHA-256 of the cookie's random token, so a leaked database cannot be
  replayed as cookies. Idle timeout 30 minutes and absolute lifetime 12 hours (OWASP ASVS 4.0.3 V3.3).
- Every account signs in with a password and a TOTP code (RFC 6238; issue 14). The first sign-in enrolls
  the authenticator app (QR code rendered by the portal itself) and hands out ten single-use recovery
  codes, stored salted and hashed. An admin can reset someone's MFA (audited); they enroll again.
- No lock-out a stranger can trigger: failed sign-ins are throttled per client address and per username
  with delays that double (5 s, 10 s, 20 s, ... up to a cap). A throttled attempt is refused before any
  argon2 work. See `throttle_attempt`.
- Passwords: 12 to 128 characters, not the username, not on the list of common/breached passwords that
  zxcvbn ships (30,000 entries), and not guessable by zxcvbn's estimator (score 3 or more).
- The audit log holds who, what and when, never contact data and never free text typed by staff
  (reasons and notes stay in `case_events`, which is deleted with the case).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Iterable

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
import pyotp
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referrals.config import Settings
from referrals.models import (AuditEntry, LoginThrottle, ProgramRow, RecoveryCode, ReferralCase, StaffSession,
                              StaffUser, as_utc, utcnow)

ROLES: tuple[str, ...] = ("caseworker", "supervisor", "analyst", "admin")
ORG_ROLES: frozenset[str] = frozenset({"caseworker", "supervisor"})

MIN_PASSWORD = 12
MAX_PASSWORD = 128
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)
SESSION_TOUCH = timedelta(seconds=60)  # how stale last_seen_at may get: the idle timeout is exact to a minute
# A session that has passed the password but not yet the TOTP code lives this long at most.
SESSION_PENDING = timedelta(minutes=10)
# Re-authentication (password and code again) before admin changes, and before a contact is decrypted
# when the last full sign-in is older than this.
REAUTH_ADMIN = timedelta(minutes=15)
REAUTH_CONTACT = timedelta(hours=1)

# Throttling (ASVS 4.0.3 V2.2.1: at most 100 failed attempts an hour on one account). After `free`
# failures, each further one makes the next attempt wait 5 s, 10 s, 20 s, ... up to `cap`. Failures older
# than THROTTLE_FORGET no longer count. The per-username cap is short on purpose: anyone can type a
# colleague's username, and this must never turn into a lock-out; the per-address and per-code caps are long.
THROTTLE_FORGET = timedelta(hours=24)
THROTTLE_FIRST_DELAY = timedelta(seconds=5)
THROTTLE_ACCOUNT = (5, timedelta(seconds=60))
THROTTLE_ADDRESS = (20, timedelta(minutes=15))
THROTTLE_MFA = (5, timedelta(minutes=15))

TOTP_ISSUER = "Riverbend caseworker portal"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper

# PASSWORD_HASH_PROFILE -> argon2 parameters. `strong` is argon2-cffi's default (RFC 9106 low-memory);
# `test` is for test runs only (see the module docstring).
HASH_PROFILES = {"strong": profiles.RFC_9106_LOW_MEMORY, "test": profiles.CHEAPEST}


def password_hasher(profile: str) -> PasswordHasher:
    """The hasher of a PASSWORD_HASH_PROFILE value; anything but a known profile is refused."""
    if profile not in HASH_PROFILES:
        raise ValueError(f"PASSWORD_HASH_PROFILE must be one of {', '.join(HASH_PROFILES)} "
                         f"(got {profile[:40]!r}); leave it unset in production")
    return PasswordHasher.from_parameters(HASH_PROFILES[profile])


@functools.cache
def _hasher() -> PasswordHasher:
    """The hasher of this process, chosen at first use from the settings: `strong` unless set."""
    return password_hasher(Settings.from_env()["PASSWORD_HASH_PROFILE"])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong username costs as long as a wrong password."""
    return hash_password(secrets.token_hex(16))


class StaffError(ValueError):
    """Input a person can fix; the message says how."""


# --- accounts -------------------------------------------------------------------------------------

@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of public breach corpora, as zxcvbn (MIT licence) ships them."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, username: str = "") -> None:
    """ASVS 4.0.3 V2.1: length 12 to 128 (any characters, spaces kept, no composition rules), not the
    username, not a known breached or common password, and not easy to guess."""
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"the password must have at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise StaffError("the password must not contain a NUL character")
    folded = unicodedata.normalize("NFKC", password).strip().lower()
    if username and folded == username.strip().lower():
        raise StaffError("the password must not be the username")
    common = _common_passwords()
    if folded in common or folded.replace(" ", "") in common:
        raise StaffError("this password is on a list of common or breached passwords; choose another")
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:100], user_inputs=[username, "riverbend", "portal", "caseworker", "password"])
    if result["score"] < 3:
        hint = (result.get("feedback") or {}).get("warning") or "it follows a common pattern"
        raise StaffError(f"this password is too easy to guess ({hint.rstrip('.').lower()}); "
                         "a few unrelated words make a strong one")


def check_username(username: str) -> str:
    """The username as stored; StaffError when it cannot be one (also keeps NUL and control characters
    away from the database, which PostgreSQL refuses)."""
    username = (username or "").strip()
    if (not username or len(username) > 80 or any(c.isspace() for c in username)
            or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in username)):
        raise StaffError("the username must be 1 to 80 characters without spaces or control characters")
    return username


def known_organizations(session: Session) -> list[str]:
    return list(session.scalars(select(ProgramRow.organization).distinct().order_by(ProgramRow.organization)))


def create_user(session: Session, username: str, role: str, password: str,
                organization: str | None = None, password_hash: str | None = None) -> StaffUser:
    """Validate and add an account in the session's transaction; the caller commits.

    `password_hash`: made already by `new_password_hash` (the portal does that in a thread, away from
    the database session); then `password` is not used."""
    username = check_username(username)
    organization = (organization or "").strip() or None
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    if role in ORG_ROLES and not organization:
        raise StaffError(f"a {role} needs --org: the organization whose referrals they work")
    if role not in ORG_ROLES and organization:
        raise StaffError(f"an {role} works across organizations: leave out --org")
    if organization:
        known = known_organizations(session)
        if known and organization not in known:
            raise StaffError(f"no program in the directory belongs to {organization!r}; "
                             f"known organizations: {'; '.join(known)}")
    if password_hash is None:
        check_password(password, username)
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise StaffError(f"the username {username!r} is taken")
    user = StaffUser(username=username, role=role, organization=organization,
                     password_hash=password_hash or hash_password(password), active=True, failed_logins=0)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.role, StaffUser.username)))


def set_active(session: Session, user: StaffUser, active: bool) -> None:
    """Disable (ending every session at once) or re-enable an account."""
    user.active = active
    if not active:
        session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    else:
        user.failed_logins, user.locked_until = 0, None
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(
            [account_key(user.username), f"mfa:{user.id}"])))
    session.flush()


def find_user(session: Session, username: str) -> StaffUser | None:
    try:
        username = check_username(username)
    except StaffError:
        return None  # cannot exist; never sent to the database
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The user when the password is right and the account active; None otherwise.

    This is only the first factor: the caller starts a pending session and asks for the TOTP code.
    The caller shows one message for every failure, so nobody learns whether a username exists, and
    throttles before calling (`throttle_attempt`), so a throttled attempt costs no argon2 work.
    """
    user = find_user(session, username)
    if user is None:
        _verify(_dummy_hash(), password)
        return None
    right = _verify(user.password_hash, password)
    if not user.active:
        audit(session, user, "login_refused", detail="account disabled")
        return None
    if not right:
        audit(session, user, "login_failed", detail="wrong password")
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def verify_password(user: StaffUser, password: str) -> bool:
    return _verify(user.password_hash, password)


def new_password_hash(new: str, username: str, current: str | None = None) -> str:
    """Check a new password and hash it: pure CPU (zxcvbn, argon2), no database, so it can run in a thread."""
    if current is not None and new == current:
        raise StaffError("the new password must differ from the current one")
    check_password(new, username)
    return hash_password(new)


def store_password(session: Session, user: StaffUser, password_hash: str, keep_session: StaffSession | None) -> None:
    """Set a hash made by `new_password_hash`; every session of the account but `keep_session` ends."""
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    others = delete(StaffSession).where(StaffSession.user_id == user.id)
    if keep_session is not None:
        others = others.where(StaffSession.id != keep_session.id)
    session.execute(others)
    session.flush()


def change_password(session: Session, user: StaffUser, current: str, new: str, keep_session: StaffSession | None
                    ) -> None:
    """Change one's own password; every other session of the account ends."""
    if not _verify(user.password_hash, current):
        raise StaffError("the current password is not right")
    store_password(session, user, new_password_hash(new, user.username, current), keep_session)
    audit(session, user, "password_changed", detail="own password; other sessions ended")


def set_password(session: Session, user: StaffUser, password: str) -> None:
    """An administrator's reset on the command line; every session of the account ends."""
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    session.flush()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


# --- throttling -----------------------------------------------------------------------------------

def account_key(username: str) -> str:
    """Throttle key of a username, known or not (so the throttle itself does not tell which exist)."""
    folded = unicodedata.normalize("NFKC", (username or "").strip()).lower()
    return "account:" + hashlib.sha256(folded.encode("utf-8", "replace")).hexdigest()


def address_key(address: str | None) -> str:
    """Throttle key of a client address; an IPv6 address counts as its /64 (one customer's network)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "address:unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def throttle_delay(failures: int, free: int, cap: timedelta) -> timedelta:
    if failures < free:
        return timedelta(0)
    return min(THROTTLE_FIRST_DELAY * 2 ** min(failures - free, 20), cap)


def throttle_wait(session: Session, keys: Iterable[str], now: datetime | None = None) -> timedelta:
    """How long the caller must still wait before any of `keys` may try again (0 when free)."""
    now = now or utcnow()
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(list(keys))))
    waits = [as_utc(r.blocked_until) - now for r in rows if r.blocked_until is not None]
    return max([timedelta(0), *waits])


def throttle_attempt(session: Session, limits: dict[str, tuple[int, timedelta]], now: datetime | None = None
                     ) -> timedelta:
    """Count an attempt against each key *before* the secret is checked, so a burst of parallel
    attempts is counted as it arrives. Returns 0 when the attempt may go on; otherwise the wait, and
    nothing is counted. The caller commits right away and calls `forgive` when the attempt succeeds.

    The rows are locked (SELECT ... FOR UPDATE on PostgreSQL), so two requests never both slip through."""
    now = now or utcnow()
    rows: dict[str, LoginThrottle] = {}
    for key in sorted(limits):
        row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
        if row is None:
            try:
                with session.begin_nested():
                    session.add(LoginThrottle(key=key, failures=0, last_failure_at=now))
            except IntegrityError:
                pass  # made by a parallel request a moment ago
            row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
                                 .execution_options(populate_existing=True))
        rows[key] = row
    wait = max([timedelta(0)] + [as_utc(r.blocked_until) - now for r in rows.values() if r.blocked_until is not None])
    if wait > timedelta(0):
        return wait
    for key, row in rows.items():
        free, cap = limits[key]
        if now - as_utc(row.last_failure_at) > THROTTLE_FORGET:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        delay = throttle_delay(row.failures, free, cap)
        row.blocked_until = now + delay if delay else None
    session.flush()
    return timedelta(0)


def forgive(session: Session, key: str, reset: bool) -> None:
    """After a success: `reset` clears the key (the account, the code), else the one attempt counted
    in advance is taken back (the address)."""
    row = session.get(LoginThrottle, key)
    if row is None:
        return
    if reset:
        session.delete(row)
    else:
        row.failures = max(0, row.failures - 1)
        if row.failures < THROTTLE_ADDRESS[0]:
            row.blocked_until = None
    session.flush()


def sweep_throttle(session: Session, now: datetime | None = None) -> None:
    """Forget what no longer counts (called now and then from sign-in)."""
    now = now or utcnow()
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - THROTTLE_FORGET))


# --- the second factor: TOTP and recovery codes ----------------------------------------------------

def enrollment_secret(session: Session, user: StaffUser) -> str:
    """The secret shown while enrolling; the same one until enrollment is done, so a reload keeps the QR."""
    if user.totp_enrolled_at is not None and user.totp_secret:
        raise StaffError("this account already has an authenticator app")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends
        session.flush()
    return user.totp_secret


def provisioning_uri(user: StaffUser) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def _clean_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").upper()


def verify_totp(session: Session, user: StaffUser, code: str, now: datetime | None = None) -> bool:
    """A 6-digit code of the current 30-second step or one step either side (clock drift), each step
    usable once: a code seen over someone's shoulder cannot be used again."""
    code = _clean_code(code)
    if not user.totp_secret or not re.fullmatch(r"[0-9]{6}", code):
        return False
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now or datetime.now(timezone.utc))
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            won = session.execute(update(StaffUser)
                                  .where(StaffUser.id == user.id,
                                         or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
                                  .values(totp_last_step=step)
                                  .execution_options(synchronize_session=False)).rowcount
            if won == 1:
                user.totp_last_step = step
                return True
            return False
    return False


def finish_enrollment(session: Session, user: StaffUser, code: str) -> list[str] | None:
    """Check the first code from the new app; on success the app is enrolled and fresh recovery codes
    are returned (shown once). None when the code is wrong."""
    if user.totp_enrolled_at is not None or not user.totp_secret:
        raise StaffError("there is no enrollment in progress")
    if not verify_totp(session, user, code):
        return None
    user.totp_enrolled_at = utcnow()
    codes = new_recovery_codes(session, user)
    audit(session, user, "mfa_enrolled", detail="authenticator app enrolled")
    return codes


def _hash_recovery(code: str, salt: str) -> str:
    return hashlib.sha256((salt + _clean_code(code)).encode()).hexdigest()


def new_recovery_codes(session: Session, user: StaffUser) -> list[str]:
    """Ten fresh codes (80 random bits each, salted and hashed); the old ones stop working."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        salt = secrets.token_hex(8)
        session.add(RecoveryCode(user_id=user.id, code_hash=f"{salt}${_hash_recovery(raw, salt)}"))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    session.flush()
    return codes


def use_recovery_code(session: Session, user: StaffUser, code: str) -> bool:
    cleaned = _clean_code(code)
    if not re.fullmatch(f"[{_RECOVERY_ALPHABET}]{{16}}", cleaned):
        return False
    for row in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                          RecoveryCode.used_at.is_(None))):
        salt, digest = row.code_hash.split("$", 1)
        if hmac.compare_digest(_hash_recovery(cleaned, salt), digest):
            won = session.execute(update(RecoveryCode).where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                                  .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
            if won == 1:
                left = recovery_codes_left(session, user)
                audit(session, user, "recovery_code_used", detail=f"{left} recovery codes left")
                return True
    return False


def recovery_codes_left(session: Session, user: StaffUser) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def second_factor(session: Session, user: StaffUser, code: str) -> str | None:
    """'totp' or 'recovery' when `code` is a right TOTP code or an unused recovery code; None otherwise."""
    if verify_totp(session, user, code):
        return "totp"
    if use_recovery_code(session, user, code):
        return "recovery"
    return None


def reset_mfa(session: Session, user: StaffUser) -> None:
    """An admin's reset: the app and the recovery codes are forgotten, every session ends, and the next
    sign-in enrolls again. The caller audits who did it."""
    user.totp_secret, user.totp_enrolled_at, user.totp_last_step = None, None, None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == f"mfa:{user.id}"))
    session.flush()


# --- sessions -------------------------------------------------------------------------------------

def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: StaffUser, mfa_done: bool = False, address: str | None = None,
                  user_agent: str | None = None) -> tuple[str, StaffSession]:
    """A new session for `user`: returns the cookie token (only ever given to the browser) and the row.

    Without `mfa_done` it is a pending session: good only for the TOTP step, for SESSION_PENDING."""
    now = utcnow()
    # Sessions nobody came back to are dead already; sweep them out while we are here.
    session.execute(delete(StaffSession).where((StaffSession.last_seen_at < now - SESSION_IDLE)
                                               | (StaffSession.created_at < now - SESSION_ABSOLUTE)))
    token = secrets.token_urlsafe(32)
    row = StaffSession(id=_session_id(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                       created_at=now, last_seen_at=now, mfa_at=now if mfa_done else None,
                       auth_at=now if mfa_done else None, address=(address or "")[:64] or None,
                       user_agent=_printable(user_agent or "")[:200] or None)
    session.add(row)
    session.flush()
    return token, row


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())


def resume_session(session: Session, token: str, now: datetime | None = None, touch: bool = True
                   ) -> tuple[StaffSession, StaffUser] | None:
    """The live session and its user for a cookie token; an expired session is deleted on the way.
    `touch=False` for a page's own background refresh: it is no sign of a person, so it does not keep the
    session from its idle timeout."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.get(StaffSession, _session_id(token))
    if row is None:
        return None
    user = session.get(StaffUser, row.user_id)
    expired = (now - as_utc(row.last_seen_at) > SESSION_IDLE or now - as_utc(row.created_at) > SESSION_ABSOLUTE
               or (row.mfa_at is None and now - as_utc(row.created_at) > SESSION_PENDING))
    if expired or user is None or not user.active:
        session.delete(row)
        session.flush()
        return None
    if touch and now - as_utc(row.last_seen_at) > SESSION_TOUCH:  # one write a minute at most
        row.last_seen_at = now
    return row, user


def needs_reauth(row: StaffSession, window: timedelta, now: datetime | None = None) -> bool:
    return row.auth_at is None or (now or utcnow()) - as_utc(row.auth_at) > window


def end_session(session: Session, token: str) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.id == _session_id(token)))


def sessions_of(session: Session, user: StaffUser) -> list[StaffSession]:
    now = utcnow()
    rows = session.scalars(select(StaffSession).where(StaffSession.user_id == user.id, StaffSession.mfa_at.is_not(None))
                           .order_by(StaffSession.last_seen_at.desc()))
    return [r for r in rows if now - as_utc(r.last_seen_at) <= SESSION_IDLE
            and now - as_utc(r.created_at) <= SESSION_ABSOLUTE]


def revoke_session(session: Session, user: StaffUser, session_id: str) -> bool:
    """End one of the user's own sessions (never someone else's); True when there was one."""
    return session.execute(delete(StaffSession).where(StaffSession.user_id == user.id,
                                                      StaffSession.id == session_id[:64])).rowcount == 1


def revoke_other_sessions(session: Session, user: StaffUser, keep: StaffSession) -> int:
    return session.execute(delete(StaffSession).where(StaffSession.user_id == user.id,
                                                      StaffSession.id != keep.id)).rowcount


# --- audit ----------------------------------------------------------------------------------------

def audit(session: Session, user: StaffUser | None, action: str, referral_id: str | None = None,
          detail: str = "") -> None:
    session.add(AuditEntry(user_id=user.id if user else None, username=user.username if user else None,
                           action=action, referral_id=referral_id, detail=detail))


def audit_entries(session: Session, viewer: StaffUser, limit: int = 300) -> list[AuditEntry]:
    """Newest first. A supervisor sees what concerns their organization (its cases and its staff);
    an admin sees account events (entries without a referral)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if viewer.role == "supervisor":
        org_cases = select(ReferralCase.id).where(ReferralCase.organization == viewer.organization)
        org_staff = select(StaffUser.id).where(StaffUser.organization == viewer.organization)
        query = query.where(AuditEntry.referral_id.in_(org_cases)
                            | (AuditEntry.referral_id.is_(None) & AuditEntry.user_id.in_(org_staff)))
    elif viewer.role == "admin":
        query = query.where(AuditEntry.referral_id.is_(None))
    else:
        return []
    return list(session.scalars(query))
