"""The action server, started as `python -m actions.server -p PORT` (rasa-sdk underneath).

Why our own launcher instead of `python -m rasa_sdk --actions actions`:

- **Only Rasa may run actions.** Every request to `/webhook` and `/actions` must carry the shared secret
  ACTIONS_SECRET in the `X-Actions-Secret` header (Rasa sends it: bot/stack.py writes it into the
  `headers` of `action_endpoint`, read from Rasa's environment, never from a command line). The check is
  a Sanic request middleware, so it runs before the body is even parsed: no header is 401, a wrong one
  403, and no action runs. `/health` stays open (it says nothing but "ok").
- **A failing action never hands the conversation to a log.** rasa-sdk answers an exception with 500 and
  the whole request body (the tracker: the pseudonym and every word the resident wrote) and logs the
  exception's message (SQLAlchemy quotes the query's parameters); Rasa then writes that body to its log
  at ERROR and the resident gets an empty reply. Here an action that raises is answered with 200, the
  "having trouble" text in the resident's language and a `followup` to `action_listen` (so Rasa waits
  for the next message instead of guessing on), and the log line holds only the action's name, the
  exception's class and where it was raised.
- Logs of this process pass through `scrub_records` (pseudonyms replaced, exception messages dropped).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
import traceback
from typing import Any

from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException
from sanic import Sanic, response
from sanic.request import Request

from actions.messages import t
from actions.sender import PSEUDONYM_RE, SECRET_HEADER

logger = logging.getLogger("actions.server")

GUARDED_PATHS = ("/webhook", "/actions")


class SecretMissing(SystemExit):
    pass


def secret_from_env() -> str:
    secret = os.environ.get("ACTIONS_SECRET", "")
    if len(secret) < 16:
        raise SecretMissing("[actions] ACTIONS_SECRET is not set (or shorter than 16 characters): the action "
                            "server refuses to run actions for whoever asks. Set the same value for Rasa "
                            "(bot/stack.py does this) and for the gateway; scripts/setup.sh writes one to "
                            "var/secrets.env.")
    return secret


def where(exc: BaseException) -> list[str]:
    """File:line of our own frames and of the last one: enough to find the fault, nothing the resident wrote."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename]
    picked = ours[-3:] + ([frames[-1]] if frames and (not ours or frames[-1] is not ours[-1]) else [])
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in picked]


class GuardedExecutor(ActionExecutor):
    """rasa-sdk's executor, but an action that raises gives the resident the 'having trouble' reply."""

    async def run(self, action_call: dict[str, Any], *args: Any, **kwargs: Any) -> ActionExecutorRunResult | None:
        try:
            return await super().run(action_call, *args, **kwargs)
        except (ActionExecutionRejection, ActionNotFoundException, ActionMissingDomainException):
            raise  # rasa-sdk answers these with 4xx and a body that names only the action
        except Exception as exc:
            name = str(action_call.get("next_action") or "?")[:80]
            logger.error("action failed: %s raised %s at %s", name, type(exc).__name__, ", ".join(where(exc)))
            slots = ((action_call.get("tracker") or {}).get("slots") or {}) if isinstance(action_call, dict) else {}
            language = slots.get("language") if slots.get("language") in ("en", "es") else "en"
            return ActionExecutorRunResult(events=[{"event": "followup", "name": "action_listen"}],
                                           responses=[{"text": t(language, "trouble")}])


def add_guard(app: Sanic, secret: str) -> None:
    """The shared-secret check, before any route (and before the body is read)."""
    expected = secret.encode()

    @app.on_request
    async def require_secret(request: Request):
        if not request.path.startswith(GUARDED_PATHS):
            return None
        given = request.headers.get(SECRET_HEADER)
        if not given:
            logger.warning("refused %s: no %s header", request.path, SECRET_HEADER)
            return response.json({"error": f"{SECRET_HEADER} header required"}, status=401)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
            logger.warning("refused %s: wrong %s", request.path, SECRET_HEADER)
            return response.json({"error": "wrong action server secret"}, status=403)
        return None

    async def no_request_in_errors(request: Request, exception: Exception):
        logger.error("request failed: %s at %s", type(exception).__name__, ", ".join(where(exception)))
        status = getattr(exception, "status_code", 500)
        status = status if isinstance(status, int) and 400 <= status < 600 else 500
        return response.json({"error": "the action server could not handle this request"}, status=status)

    # Replaces rasa-sdk's handler for Exception, which logs the request and answers with its body (the
    # tracker). Sanic refuses a second handler for the same exception, so the registered one is swapped.
    app.error_handler.cached_handlers[(Exception, None)] = no_request_in_errors


def build_app(secret: str | None = None) -> Sanic:
    """The rasa-sdk app with our executor, the secret check and errors that quote nothing."""
    from rasa_sdk.endpoint import create_app_for_serve

    secret = secret or secret_from_env()
    executor = GuardedExecutor()
    executor.register_package("actions")
    app = create_app_for_serve(executor, cors_origins=None)
    add_guard(app, secret)
    return app


class ScrubFilter(logging.Filter):
    """Every record of this process: pseudonyms masked, no exception text (it may quote the resident)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += f" [{type(exc).__name__} at {', '.join(where(exc))}]"
        record.msg, record.args = PSEUDONYM_RE.sub("<pseudonym>", message), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def scrub_records() -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(ScrubFilter())
    for name in ("sanic.root", "sanic.error", "sanic.server", "rasa_sdk", "actions"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(ScrubFilter())


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stdout, force=True)
    logging.getLogger("sanic.access").setLevel(logging.WARNING)
    scrub_records()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.server", description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("ACTIONS_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("SANIC_HOST", "127.0.0.1"))
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    try:
        secret_from_env()
    except SecretMissing as exc:
        print(exc.code, file=sys.stderr)
        return 2
    _configure_logging(args.log_level)
    app = build_app()
    app.config.KEEP_ALIVE_TIMEOUT = 30
    logger.info("action server on http://%s:%d", args.host, args.port)
    # ONE process (Sanic's single_process): `python -m rasa_sdk` starts a worker manager plus a worker, and
    # a `kill -9` of the manager left the worker orphaned and still serving on the port, so a restart could
    # not bind it. One process is one thing to supervise, kill and restart.
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
