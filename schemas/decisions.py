"""Topic ``modocr.decisions``: a reviewer's decision on a flagged item."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, TypeAdapter

from schemas.base import Event

FlagStatus = Literal["open", "upheld", "dismissed", "escalated"]
DecisionAction = Literal["uphold", "dismiss", "escalate", "claim", "assign"]


class DecisionEvent(Event):
    """One entry of the audit trail, published for downstream action."""

    kind: Literal["decision"] = Field(default="decision", description="Discriminator.")
    flag_id: int = Field(description="modocr's id of the flag.")
    item_id: int = Field(description="modocr's id of the item.")
    tenant: str = Field(description="The producer's tenant.")
    source: str = Field(description="The producer's source.")
    external_id: str = Field(description="The producer's id of the item.")
    action: DecisionAction = Field(description="What the reviewer did.")
    status_before: FlagStatus = Field(description="The flag's status before the decision.")
    status_after: FlagStatus = Field(description="The flag's status after the decision.")
    reviewer: str = Field(description="Name of the reviewer who decided.")


DECISION_ADAPTER: TypeAdapter[DecisionEvent] = TypeAdapter(DecisionEvent)
