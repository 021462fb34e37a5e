"""Message contracts of every modocr topic; depends on nothing but pydantic."""

from schemas.base import Event, Message
from schemas.decisions import DecisionEvent
from schemas.dlq import DeadLetter
from schemas.documents import Document, InlineDocument, UrlDocument
from schemas.flagged import FlaggedEvent
from schemas.posts import ChatTurn, ConversationPost, Post, TextPost

__all__ = [
    "ChatTurn",
    "ConversationPost",
    "DeadLetter",
    "DecisionEvent",
    "Document",
    "Event",
    "FlaggedEvent",
    "InlineDocument",
    "Message",
    "Post",
    "TextPost",
    "UrlDocument",
]
