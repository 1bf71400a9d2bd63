from feedbackportal.leadconduit.client import (
    Classification,
    Exchange,
    InvalidFeedback,
    LeadConduitError,
    Reply,
    send_feedback,
)
from feedbackportal.leadconduit.wire import FeedbackResult, FeedbackType, LeadData, Outcome, is_event_id

__all__ = [
    "Classification",
    "Exchange",
    "FeedbackResult",
    "FeedbackType",
    "InvalidFeedback",
    "LeadConduitError",
    "LeadData",
    "Outcome",
    "Reply",
    "is_event_id",
    "send_feedback",
]
