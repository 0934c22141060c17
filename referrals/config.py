"""Settings are data: one table of name, default and help, read from the environment.

Every process (gateway, action server, portal, commands) reads its configuration through
`Settings.from_env()`, so a setting is documented once here and `tests/test_settings.py`
fails when the README does not mention one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'riverbend.db'}",
            "SQLAlchemy URL of the referral database; e.g. postgresql+psycopg://user@host/dbname"),
    Setting("DIRECTORY_FILE", str(ROOT / "referrals" / "data" / "sample_directory.json"),
            "HSDS 3.0 directory loaded at setup when the database has no programs"),
    Setting("NEED_MAPPING_FILE", str(ROOT / "referrals" / "data" / "need_mapping.csv"),
            "CSV or YAML mapping taxonomy codes and term names to needs, for services without x_eligibility"),
    Setting("DIRECTORY_STALE_DAYS", "365",
            "A service whose assured_date is older than this many days is shown to residents with 'call first'"),
    Setting("HSDS_API_HOST", "127.0.0.1", "Address the read-only HSDS 3.0 API (`directory serve`) listens on"),
    Setting("HSDS_API_PORT", "8082", "Port of the read-only HSDS 3.0 API"),
    Setting("NEIGHBORHOODS_FILE", str(ROOT / "referrals" / "data" / "neighborhoods.csv"),
            "CSV of zip,neighborhood for the city"),
    Setting("CITY_NAME", "City of Riverbend", "Name the assistant introduces itself with"),
    Setting("AREA_MEDIAN_INCOME", "98000",
            "Area median income (USD, household of four) used for income limits given as % of AMI"),
    Setting("RASA_URL", "http://127.0.0.1:5005", "Rasa server (loopback only)"),
    Setting("RASA_TOKEN", "", "Token of Rasa's HTTP API (--auth-token); setup generates one", secret=True),
    Setting("ACTIONS_PORT", "5055", "Port of the action server (loopback only)"),
    Setting("ACTIONS_SECRET", "", "Shared secret: the action server runs actions only for requests that carry "
            "it (Rasa sends it), and the gateway signs each sender id with it; setup generates one; empty "
            "means `python -m bot run` makes one per run", secret=True),
    Setting("PSEUDONYM_KEY", "", "Key of the HMAC that turns a phone number into a pseudonym", secret=True),
    Setting("VAULT_KEY", "", "Fernet key that encrypts contact details at rest (one key; see VAULT_KEYS)", secret=True),
    Setting("VAULT_KEYS", "", "Several vault keys with ids, newest first: 'id:key,id:key'. The first seals new "
            "contacts, all open them; `python -m referrals keys rotate` re-encrypts under the first. Wins over "
            "VAULT_KEY when set", secret=True),
    Setting("GATEWAY_HOST", "127.0.0.1", "Address the resident gateway (SMS webhook, web chat) listens on"),
    Setting("GATEWAY_PORT", "8080", "Port of the resident gateway"),
    Setting("GATEWAY_TRUST_PROXY", "0", "1 when the gateway runs behind a proxy that appends the client's "
            "address to X-Forwarded-For; only then are rate limits per address read from that header"),
    Setting("RATE_LIMIT_ADDRESS", "300/60", "Web chat requests (and failed SMS signatures) per client address: "
            "COUNT/SECONDS, 0/0 for none; over it the gateway answers 429 with a clear message"),
    Setting("RATE_LIMIT_NEW_SESSIONS", "60/600", "Web conversations one client address may start, COUNT/SECONDS"),
    Setting("RATE_LIMIT_SESSION", "30/60", "Messages per web conversation, COUNT/SECONDS"),
    Setting("RATE_LIMIT_NUMBER", "30/60", "Texts per phone number, COUNT/SECONDS; over it one 'slow down' "
            "text, then silence (Twilio always gets 200, never 429)"),
    Setting("PUBLIC_BASE_URL", "",
            "The gateway's public URL as Twilio calls it (e.g. https://chat.example.gov), when it runs behind "
            "a proxy or tunnel; empty means the URL of the request itself"),
    Setting("TWILIO_AUTH_TOKEN", "", "Auth token of the Twilio account; without it POST /sms refuses every "
            "request", secret=True),
    Setting("TWILIO_ACCOUNT_SID", "", "Twilio account SID, for texts the city sends first (follow-ups)"),
    Setting("TWILIO_FROM_NUMBER", "", "The city's Twilio number (E.164) that outbound texts come from"),
    Setting("TWILIO_API_BASE", "", "Base URL of Twilio's REST API; empty means Twilio's own; tests point it "
            "at a local fake"),
    Setting("RETENTION_DAYS", "180", "Days after a resident's last activity before `python -m referrals purge` "
            "deletes their referral cases, contact and consents (the anonymous log is kept)"),
    Setting("RASA_TIMEOUT", "10", "Seconds the gateway waits for Rasa before it sends the 'having trouble' "
            "reply (Twilio gives up after 15)"),
    Setting("TRACKER_STORE_URL", "",
            "SQLAlchemy URL of Rasa's conversation store; empty means next to DATABASE_URL: a file "
            "<name>.conversations.db beside an SQLite database, or the database <name>_conversations on the "
            "same PostgreSQL server (created at start)", secret=True),
    Setting("REDIS_URL", "", "redis://host:port/db for the gateway's per-conversation state and Rasa's lock "
            "store (needed when more than one Rasa serves); empty means the database and one Rasa", secret=True),
    Setting("ACTIONS_URL", "", "Base URL of the action server the gateway's health check asks; empty means "
            "http://127.0.0.1:ACTIONS_PORT"),
    Setting("STAFFED_HOURS", "Mon-Fri 09:00-17:00", "When city staff answer callback requests (days and "
            "24-hour times, e.g. 'Mon-Fri 09:00-17:00'); the assistant promises a call only within them"),
    Setting("LIVE_TEAMS", "Financial Empowerment Center | * | Mon-Fri 09:00-17:00",
            "Who answers residents who ask for a person, for which needs, and when: 'Team | needs | hours; ...'. "
            "The team is the staff organization that answers; needs a comma list or '*' (every other need); "
            "hours like STAFFED_HOURS, or 'always' / 'never' (e.g. a holiday); 'off' for no live desk"),
    Setting("LIVE_WAIT_SECONDS", "600", "How long a resident waits in the live queue before, with nobody free, "
            "they are offered a callback (and given 211)"),
    Setting("QUIET_HOURS", "21:00-08:00", "When caseworkers may not text residents from the portal (from-until, "
            "24-hour, in CITY_TIMEZONE; may wrap midnight), or 'off'"),
    Setting("CITY_TIMEZONE", "America/Indiana/Indianapolis", "IANA time zone of STAFFED_HOURS"),
    Setting("PORTAL_HOST", "127.0.0.1", "Address the caseworker portal listens on (keep it on an internal network)"),
    Setting("PORTAL_PORT", "8081", "Port of the caseworker portal"),
    Setting("REPORT_FISCAL_YEAR_START", "1", "Month (1-12) the city's fiscal year starts in; equity releases cover "
            "whole months, fiscal quarters and fiscal years (7: FY2027 runs July 2026 to June 2027)"),
    Setting("REPORT_PROTECTION", "5", "Protection interval of the equity releases: a suppressed small figure "
            "must not be narrowed by all published figures to an interval narrower than this (at least 5)"),
    Setting("PORTAL_TRUST_PROXY", "0", "1 when the portal runs behind a TLS-terminating proxy that sets "
            "X-Forwarded-Proto; only then does that header make session cookies Secure"),
    Setting("PASSWORD_HASH_PROFILE", "strong", "Cost of the staff password hashes: strong (argon2id, RFC 9106 "
            "low-memory) or test (argon2-cffi's cheapest, for test runs only: tests/conftest.py sets it); any "
            "other value is refused. Leave it unset in production"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings:
    """Resolved settings: environment first, then var/secrets.env (local dev), then defaults."""

    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        local = _read_env_file(ROOT / "var" / "secrets.env")
        values = {}
        for s in SETTINGS:
            values[s.name] = environ.get(s.name) or local.get(s.name) or s.default
        return cls(values)

    def __getitem__(self, name: str) -> str:
        if name not in _BY_NAME:
            raise KeyError(f"unknown setting {name}")
        return self._values[name]

    @property
    def database_url(self) -> str:
        return self["DATABASE_URL"]

    @property
    def area_median_income(self) -> int:
        return int(self["AREA_MEDIAN_INCOME"])


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out
