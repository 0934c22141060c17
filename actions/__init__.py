"""Custom actions run by the rasa-sdk action server (`python -m actions.server`).

Importing this package registers every action; the modules do no I/O at import time.
"""

from actions.callbacks import ActionDeclineCallback, ActionOfferCallback, ActionRequestCallback
from actions.conversation import (ActionCloseRequest, ActionDetectLanguage, ActionExtractTopics, ActionSetNeed,
                                  ActionStartOver)
from actions.forms import (ActionAskAgeBand, ActionAskBusinessStage, ActionAskConsentAnalytics, ActionAskContactStatus,
                           ActionAskConsentFollowup, ActionAskGender, ActionAskIncomeBand, ActionAskRaceEthnicity,
                           ActionAskZipCode, ValidateConsentForm, ValidateEligibilityForm, ValidateReferralForm)
from actions.programs import ActionAskReferralChoice, ActionCreateReferral, ActionSaveConsents, ActionShowPrograms
from actions.trust import ActionAnswerPrivacy

__all__ = [
    "ActionAskAgeBand", "ActionAskBusinessStage", "ActionAskIncomeBand", "ActionAskReferralChoice",
    "ActionAskZipCode", "ActionCloseRequest", "ActionCreateReferral", "ActionDetectLanguage", "ActionSetNeed", "ActionShowPrograms", "ActionStartOver",
    "ValidateEligibilityForm", "ValidateReferralForm",
    "ActionAskConsentAnalytics", "ActionAskConsentFollowup", "ActionAskGender", "ActionAskRaceEthnicity",
    "ActionSaveConsents", "ValidateConsentForm", "ActionAskContactStatus", "ActionExtractTopics",
    "ActionOfferCallback", "ActionRequestCallback", "ActionDeclineCallback", "ActionAnswerPrivacy",
]
