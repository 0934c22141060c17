"""Rasa's logs without a conversation in them; installed by scripts/rasa_run.py (runs only in .venv-rasa).

What Rasa 3.6 writes on its error paths, and what this changes:

- `structlog` events carry the resident's words and ids as fields: `rest.message.received.timeout`
  (`text=`, a turn that took too long), `message.parsing.failed` (`user_text=`, a message starting with
  "/" that is not a valid intent payload), and many debug events. Every field but a short list of
  harmless ones (event name, action and intent names, confidences, counts) is replaced by `<redacted>`.
- Exceptions: `logger.exception` in the processor prints the whole chain; an action server that answers
  an error puts its response body (the tracker) into the exception message. Records keep the exception's
  class and where it was raised (file:line), never its message or the traceback's text.
- Conversation ids (`sms-<hex>`, `web-<hex>`: pseudonyms) in any message are masked.
- `warnings` (Rasa's `raise_warning`, e.g. "Failed to parse arguments in line '/...'") lose any quoted text.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
import warnings
from typing import Any

PSEUDONYM_RE = re.compile(r"\b(?:sms|web|terminal|test)-[0-9a-f]{12,64}\b")
QUOTED_RE = re.compile(r"'[^']*'|\"[^\"]*\"")
# structlog fields that never hold what a resident wrote or who they are.
SAFE_FIELDS = frozenset({
    "event", "event_info", "event_key", "level", "log_level", "timestamp", "logger", "exception",
    "action_name", "action", "policy_name", "policy", "policy_type", "intent", "intent_name", "confidence",
    "max_confidence", "prediction", "model", "model_id", "fingerprint", "filename", "status", "code",
    "url", "len_extraction_events", "num_events", "count", "duration", "component", "node_name", "rasa_version",
})
REDACTED = "<redacted>"


def where(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    chain = [type(exc).__name__]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(chain) < 4:
        chain.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return f"{' <- '.join(chain)} at " + ", ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames)


def scrub_event(_logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: takes the place of Rasa's `_anonymizer` (first in its chain)."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in SAFE_FIELDS:
            if isinstance(value, str):
                event_dict[key] = PSEUDONYM_RE.sub("<pseudonym>", value)
        elif key == "exc_info":
            continue
        elif not (value is None or isinstance(value, (bool, int, float))):
            event_dict[key] = REDACTED
    exc_info = event_dict.get("exc_info")
    if method_name == "exception" or exc_info:
        exc = exc_info if isinstance(exc_info, BaseException) else (
            exc_info[1] if isinstance(exc_info, tuple) else sys.exc_info()[1])
        event_dict["exception"] = where(exc)
        event_dict["exc_info"] = False  # structlog then renders no traceback
    return event_dict


_make_record = logging.getLogRecordFactory()


def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string in someone's log call: keep the template only
        message = str(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        message += f" [{where(record.exc_info[1])}]"
    if "body='" in message:  # aiohttp / Rasa ClientResponseError: the action server's answer
        message = re.sub(r"body='.*", "body=<redacted>", message, flags=re.S)
    record.msg, record.args = PSEUDONYM_RE.sub("<pseudonym>", message), None
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    return record


_show_warning = warnings.showwarning


def scrubbed_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                     file: Any = None, line: str | None = None) -> None:
    text = str(message)
    if "arguments in line" in text:  # the line is the resident's message; the rest may name parts of it
        text = text.split(" in line", 1)[0] + " in a message starting with '/' (message withheld)"
    text = PSEUDONYM_RE.sub("<pseudonym>", QUOTED_RE.sub("'<redacted>'", text))
    _show_warning(text, category, filename, lineno, file, "")


def install() -> None:
    """Before Rasa configures its logging: swap the anonymizer, the record factory and the warning printer."""
    import rasa.utils.log_utils as log_utils

    log_utils._anonymizer = scrub_event
    logging.setLogRecordFactory(scrubbed_record)
    warnings.showwarning = scrubbed_warning
