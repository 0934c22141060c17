"""`rasa` with a few speed fixes; run by .venv-rasa's Python (bot/stack.py starts `rasa run` this way).

    .venv-rasa/bin/python scripts/rasa_run.py run --enable-api ...   (same arguments as `rasa`)

Why: after every custom action call, Rasa 3.6 checks the action server's answer with
`jsonschema.validate(result, schema)`. That call first checks the constant schema itself against the
JSON Schema 2020-12 meta-schema, every time: 40-60 ms of CPU per action call, and a turn makes about four
such calls. It was about 60% of the Rasa server's CPU under load (docs/performance.md). Here the schema
is checked once and its validator kept; an answer that fails still goes through Rasa's own method, so
the error and its message are Rasa's. Nothing else changes.

Not app code: only .venv-rasa's Python runs this file, and nothing in bot/, actions/ or referrals/
imports it.
"""

from __future__ import annotations

import sys


def speed_up_action_result_check() -> None:
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction._validate_action_result
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def _validate_action_result(self, result):  # noqa: ANN001, ANN202 (Rasa's signature)
        return True if validator.is_valid(result) else original(self, result)

    RemoteAction._validate_action_result = _validate_action_result


def speed_up_event_lookup() -> None:
    """Rasa rebuilds the list of all Event classes (recursively, with inspect) for every event it reads
    back from the tracker store, a few hundred times a turn. Remember each answer instead; a name it
    has not seen still goes through Rasa's own lookup (with its errors and defaults)."""
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    known: dict[str, type] = {}

    def resolve_by_type(type_name, default=None):  # noqa: ANN001, ANN202 (Rasa's signature)
        cls = known.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                known[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def slim_action_calls() -> None:
    """Send the action server what it needs rather than the whole history. Rasa 3.6 sends every event
    of the session with every action call, so a turn's cost grew with the conversation's length
    (issue 11: 0.11 s -> 0.63 s after 240 turns). Our actions read slots, the latest message, the
    active loop, the events of the current turn (rasa-sdk's form validation, `get_latest_input_channel`)
    and of the turn before it (an offer of a person holds for the one message after it:
    actions/conversation.py); those two turns are what is sent now, so the size stays bounded. The rest
    of the request is Rasa's own."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import EventVerbosity

    original = RemoteAction._action_call_format

    def _action_call_format(self, tracker, domain):  # noqa: ANN001, ANN202 (Rasa's signature)
        events = list(tracker.events)
        users = [i for i in range(len(events) - 1, -1, -1) if isinstance(events[i], UserUttered)][:2]
        if not users:
            return original(self, tracker, domain)
        start = users[-1]  # the user message before the latest one, or the latest if it is the first
        # current_state(NONE) has slots, latest_message, active_loop, paused... but no events.
        real = tracker.current_state
        try:
            tracker.current_state = lambda *_a, **_k: {**real(EventVerbosity.NONE),
                                                         "events": [e.as_dict() for e in events[start:]]}
            return original(self, tracker, domain)
        finally:
            del tracker.current_state

    RemoteAction._action_call_format = _action_call_format


CHECKPOINT_EVENTS = 100  # RASA_CHECKPOINT_EVENTS overrides (the tests use a small number)


def checkpoint_long_sessions() -> None:
    """Keep the session Rasa loads per turn short. Rasa 3.6 loads every event since the latest
    `session_started` and replays it (then the policies walk all of it several times a turn), so a turn's
    CPU grew with the conversation (issue 11: 4.8x at the 200th message). When a message arrives for a
    conversation at rest (the bot listened last, no form active, not paused) whose session already holds
    more than CHECKPOINT_EVENTS events, a new session is started first, as Rasa does when a session
    expires: `session_started`, a `slot` event for every slot that is set (its current value: nothing is
    forgotten) and `action_listen`. The next turns load only the new session.

    Why the dialogue does not change: the policies read the events after the latest `session_started`,
    and this model's rules look no further back than the latest user message (tests/test_flat_cost.py
    checks that on the trained model); the slots and the loop (none) are the same. Unlike Rasa's own
    session start there is no `action_session_start` event: the actions read the turn before the
    current one (an offer of a person holds for one message: actions/conversation.py), which this turn
    still has in memory (`slim_action_calls` sends it) and the next turn loads after the new start. The
    gateway's undo of a failed turn (`rewind`) reverts the turn after the new start; the start stays."""
    import os

    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet

    raw = os.environ.get("RASA_CHECKPOINT_EVENTS") or str(CHECKPOINT_EVENTS)
    if not raw.strip().isdigit():
        raise SystemExit(f"RASA_CHECKPOINT_EVENTS must be a whole number of events (default {CHECKPOINT_EVENTS})")
    limit = int(raw)
    original = MessageProcessor.fetch_tracker_and_update_session

    def session_length(tracker) -> int:  # noqa: ANN001
        n = 0
        for event in reversed(tracker.events):
            if isinstance(event, SessionStarted):
                break
            n += 1
        return n

    async def fetch_tracker_and_update_session(self, sender_id, output_channel=None, metadata=None):  # noqa: ANN001, ANN202
        tracker = await original(self, sender_id, output_channel, metadata)
        if (tracker.latest_action_name == ACTION_LISTEN_NAME and not tracker.active_loop_name
                and not tracker.is_paused() and session_length(tracker) > limit):
            # The start first: Rasa loads the events stamped at or after the latest start, so the slots
            # carried over must not be stamped before it.
            start = SessionStarted()
            carried = [SlotSet(name, slot.value) for name, slot in tracker.slots.items() if slot.has_been_set]
            for event in (start, *carried, ActionExecuted(ACTION_LISTEN_NAME)):
                tracker.update(event, self.domain)
        return tracker

    MessageProcessor.fetch_tracker_and_update_session = fetch_tracker_and_update_session


def token_from_environment() -> None:
    """`--auth-token` from RASA_AUTH_TOKEN instead of the command line, where every local user could
    read it (ps, /proc/<pid>/cmdline); the environment of a process is readable only by its owner."""
    import os

    token = os.environ.pop("RASA_AUTH_TOKEN", "")
    if token and "--auth-token" not in sys.argv:
        sys.argv += ["--auth-token", token]


if __name__ == "__main__":
    import rasa_log_filter  # this script's folder is on sys.path

    rasa_log_filter.install()  # no tracker, text or pseudonym in Rasa's logs (see that module)
    token_from_environment()
    speed_up_action_result_check()
    speed_up_event_lookup()
    slim_action_calls()
    checkpoint_long_sessions()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
