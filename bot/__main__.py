"""Command line of the assistant: `python -m bot run | shell | triage`."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import urllib.request

import aiohttp

from referrals.config import Settings


def _rasa_is_up(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{settings['RASA_URL']}/status?token={settings['RASA_TOKEN']}",
                                    timeout=2) as resp:
            return resp.status == 200
    except Exception:
        return False


async def _shell(rasa_url: str, token: str, actions_secret: str = "") -> None:
    from bot.conversation import handle_turn
    from bot.rasa_client import RasaClient
    from bot.render import render_plain

    sender = "terminal-" + secrets.token_hex(6)
    print("Chat with the assistant (English or Spanish). Ctrl-D or 'quit' to leave.\n")
    language = "en"
    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(session, rasa_url, token, actions_secret=actions_secret)
        loop = asyncio.get_running_loop()
        while True:
            try:
                text = await loop.run_in_executor(None, lambda: input("you> "))
            except EOFError:
                print()
                return
            if text.strip().lower() in ("quit", "exit"):
                return
            turn = await handle_turn(rasa, sender, text, "terminal", language)
            try:  # the turn may have set the language; numbered choices are introduced in it
                language = ((await rasa.tracker(sender)).get("slots") or {}).get("language") or language
            except Exception:
                pass
            for reply in render_plain(turn.messages, language):
                print("bot> " + reply.replace("\n", "\n     "))


def cmd_shell(settings: Settings) -> int:
    if _rasa_is_up(settings):
        asyncio.run(_shell(settings["RASA_URL"], settings["RASA_TOKEN"], settings["ACTIONS_SECRET"]))
        return 0
    from bot.stack import running_stack

    print("[shell] starting Rasa and the action server (about 30 s)...", file=sys.stderr)
    with running_stack(settings, log=lambda m: print(m, file=sys.stderr)) as stack:
        asyncio.run(_shell(stack.rasa_url, stack.token, stack.actions_secret))
    return 0


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # access lines would carry no PII, but noise


def serve_gateway(settings: Settings, rasa_url: str | None = None, rasa_token: str | None = None,
                  announce=None, actions_secret: str | None = None) -> None:
    """Serve the resident gateway until Ctrl-C or SIGTERM."""
    from aiohttp import web

    from bot.gateway import make_app

    host, port = settings["GATEWAY_HOST"], int(settings["GATEWAY_PORT"])
    app = make_app(settings, rasa_url=rasa_url, rasa_token=rasa_token, actions_secret=actions_secret)
    web.run_app(app, host=host, port=port, access_log=None, print=announce, handle_signals=True)


def cmd_gateway(settings: Settings) -> int:
    _logging()
    serve_gateway(settings, announce=lambda m: print(f"[gateway] {m}", file=sys.stderr))
    return 0


def cmd_run(settings: Settings) -> int:
    """Everything under supervisord: restarted when it dies, stopped together (bot/supervise.py)."""
    from bot.supervise import run

    return run(settings)


def _safe_url(url: str) -> str:
    """A database URL with its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="train if needed, prepare the database, start Rasa, the action server "
                               "and the gateway")
    sub.add_parser("gateway", help="serve only the resident gateway, against a running Rasa (RASA_URL)")
    sub.add_parser("shell", help="chat with the assistant in the terminal")
    sub.add_parser("triage", help="triage messages: one per line on stdin, JSON lines on stdout")
    for name, what in (("backup", "copy the referral database and Rasa's conversation store to DIR"),
                       ("restore", "put both databases back from DIR (stop the assistant first)")):
        sub.add_parser(name, help=what).add_argument("dir")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command in ("run", "gateway"):
        from referrals.vault import KeyMissing

        try:
            return {"run": cmd_run, "gateway": cmd_gateway}[args.command](settings)
        except KeyMissing as exc:  # a missing or wrong key: say what to do, not a traceback
            print(f"[{args.command}] ERROR: {exc}", file=sys.stderr)
            return 2
    if args.command in ("backup", "restore"):
        from pathlib import Path

        from bot import backup

        done = getattr(backup, args.command)(settings, Path(args.dir))
        print(f"[{args.command}] " + ", ".join(str(d) for d in done))
        return 0
    if args.command == "triage":
        from bot.triage import main as triage_main

        return triage_main(settings)
    return {"run": cmd_run, "shell": cmd_shell, "gateway": cmd_gateway}[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
