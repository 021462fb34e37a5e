"""Topic ``modocr.posts``: user text to moderate, a single text or a conversation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.base import Message
from schemas.inputs import InputMessage


class ChatTurn(Message):
    """One turn of a conversation, in the chat-completion message format."""

    role: Literal["system", "user", "assistant", "tool"] = Field(description="Who wrote the turn.")
    content: str = Field(description="The text of the turn.")


class TextPost(InputMessage):
    """A post or comment: one text, moderated with ``/v1/moderations``."""

    kind: Literal["text"] = Field(default="text", description="Discriminator.")
    text: str = Field(min_length=1, description="The user's text, UTF-8.")


class ConversationPost(InputMessage):
    """A conversation; its last turn is moderated in context with ``/v1/chat/moderations``."""

    kind: Literal["conversation"] = Field(description="Discriminator.")
    messages: list[ChatTurn] = Field(
        min_length=1, description="The turns in order; the last one is judged."
    )


Post = Annotated[TextPost | ConversationPost, Field(discriminator="kind")]
POST_ADAPTER: TypeAdapter[TextPost | ConversationPost] = TypeAdapter(Post)
