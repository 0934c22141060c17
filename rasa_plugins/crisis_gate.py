"""The model's crisis intent counts only when the model is sure of it.

Why: a `crisis` intent gets the crisis reply (988, 911) and ends whatever the resident was doing
(data/rules/conversation.yml). The classifier is sometimes confident about nonsense ("how fast am i
going"), and an unneeded crisis reply to an ordinary question is alarming and makes residents stop
trusting the assistant. Recall does not depend on the model: the crisis keywords (bot/safety.py) run
before Rasa in the conversation and beside it in triage, and a keyword match reaches Rasa as the
`/crisis` payload, which this component leaves alone (Rasa's RegexMessageHandler, later in the
pipeline, sets that intent).

So: when the top intent is `crisis` with a confidence under `threshold`, the message becomes
`nlu_fallback` ("sorry, I did not understand" and the menu, or in a question: not an answer), the same
thing FallbackClassifier does for any intent under its lower threshold. The threshold is calibrated on
held-out sets (docs/triage.md, "Calibration").
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Text, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ConfidentCrisisOnly(GraphComponent, IntentClassifier):
    """Turns a `crisis` prediction under `threshold` into `nlu_fallback` (see the module doc)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"intent": "crisis", "threshold": 0.9}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ConfidentCrisisOnly":
        return cls(config)

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.component_config = config

    def process(self, messages: List[Message]) -> List[Message]:
        name, threshold = self.component_config["intent"], float(self.component_config["threshold"])
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) != name or (intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) >= threshold:
                continue
            fallback = {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: threshold}
            message.set(INTENT, fallback, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            message.set(INTENT_RANKING_KEY, [dict(fallback)] + list(ranking), add_to_output=True)
            logger.debug("crisis intent under %.2f: nlu_fallback", threshold)
        return messages
