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
    Setting("NEIGHBORHOODS_FILE", str(ROOT / "referrals" / "data" / "neighborhoods.csv"),
            "CSV of zip,neighborhood for the city"),
    Setting("CITY_NAME", "City of Riverbend", "Name the assistant introduces itself with"),
    Setting("AREA_MEDIAN_INCOME", "98000",
            "Area median income (USD, household of four) used for income limits given as % of AMI"),
    Setting("RASA_URL", "http://127.0.0.1:5005", "Rasa server (loopback only)"),
    Setting("RASA_TOKEN", "", "Token of Rasa's HTTP API (--auth-token); setup generates one", secret=True),
    Setting("ACTIONS_PORT", "5055", "Port of the action server (loopback only)"),
    Setting("PSEUDONYM_KEY", "", "Key of the HMAC that turns a phone number into a pseudonym", secret=True),
    Setting("VAULT_KEY", "", "Fernet key that encrypts contact details at rest", secret=True),
    Setting("GATEWAY_HOST", "127.0.0.1", "Address the resident gateway (SMS webhook, web chat) listens on"),
    Setting("GATEWAY_PORT", "8080", "Port of the resident gateway"),
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
    Setting("STAFFED_HOURS", "Mon-Fri 09:00-17:00", "When city staff answer callback requests (days and "
            "24-hour times, e.g. 'Mon-Fri 09:00-17:00'); the assistant promises a call only within them"),
    Setting("CITY_TIMEZONE", "America/Indiana/Indianapolis", "IANA time zone of STAFFED_HOURS"),
    Setting("PORTAL_HOST", "127.0.0.1", "Address the caseworker portal listens on (keep it on an internal network)"),
    Setting("PORTAL_PORT", "8081", "Port of the caseworker portal"),
    Setting("PORTAL_TRUST_PROXY", "0", "1 when the portal runs behind a TLS-terminating proxy that sets "
            "X-Forwarded-Proto; only then does that header make session cookies Secure"),
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
