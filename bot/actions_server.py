"""The action server (rasa-sdk) in ONE process: `python -m bot.actions_server --port 5055`.

`python -m rasa_sdk` starts Sanic's worker manager: a main process plus a worker process that serves.
A `kill -9` of the main process left the worker orphaned and still serving on the port, so a restart
could not bind it. Here the same rasa-sdk app (its /health and /webhook, our `actions` package) runs
with Sanic's `single_process=True`: one process to supervise, to kill and to restart.
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.actions_server")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    from rasa_sdk.endpoint import create_app
    from rasa_sdk.executor import ActionExecutor

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=[])
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
