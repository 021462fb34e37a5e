"""Request and response models of the review API (pydantic; "schema" = wire, never ORM)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pipeline.db.models import Decision, Reviewer, Verdict
    from pipeline.review.store import FlagDetail, FlagRow

FlagStatus = Literal["open", "upheld", "dismissed", "escalated"]
Role = Literal["viewer", "reviewer", "admin"]
Verb = Literal["uphold", "dismiss", "escalate"]
Action = Literal["uphold", "dismiss", "escalate", "claim", "assign"]
NOTE_MAX = 4000


def _storable(text: str) -> str:
    """Text both databases can store: valid UTF-8 (no lone surrogates) and no NUL."""
    if "\x00" in text:
        raise ValueError("NUL characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode") from exc
    return text


Text = Annotated[str, AfterValidator(_storable)]
"""A string that can be stored and compared (PostgreSQL refuses NUL and invalid UTF-8)."""


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    database: str = Field(description="The database dialect answering: sqlite or postgresql.")


class Me(BaseModel):
    name: str
    role: Role


class Reference(BaseModel):
    """How to find the content at its producer: what is shown instead of it under ZDR."""

    tenant: str
    source: str
    external_id: str
    content_sha256: str


class FlagSummary(BaseModel):
    id: int = Field(description="The flag's id.")
    item_id: int
    kind: Literal["post", "document"]
    tenant: str
    source: str
    external_id: str
    content_sha256: str
    status: FlagStatus
    categories: list[str]
    max_score: float
    assignee: str | None
    version: int = Field(description="Send it back with a decision (optimistic concurrency).")
    created_at: datetime
    updated_at: datetime
    excerpt: str | None = Field(description="Start of the retained content; null under ZDR.")

    @classmethod
    def of(cls, row: FlagRow) -> FlagSummary:
        return cls(
            id=row.flag_id,
            item_id=row.item_id,
            kind=row.kind,
            tenant=row.tenant,
            source=row.source,
            external_id=row.external_id,
            content_sha256=row.content_sha256,
            status=row.status,
            categories=row.categories,
            max_score=row.max_score,
            assignee=row.assignee,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            excerpt=row.excerpt,
        )


class FlagList(BaseModel):
    items: list[FlagSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last.")


class VerdictOut(BaseModel):
    page_index: int | None = Field(description="0-based page; null: the whole item.")
    model: str = Field(description="The model id the moderation API returned.")
    policy_version: str
    category_scores: dict[str, float]
    categories: dict[str, bool]
    flagged_categories: list[str]
    flagged: bool
    max_score: float

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictOut:
        return cls(
            page_index=verdict.page_index if verdict.page_index >= 0 else None,
            model=verdict.model,
            policy_version=verdict.policy_version,
            category_scores=dict(verdict.category_scores),
            categories=dict(verdict.categories),
            flagged_categories=list(verdict.flagged_categories),
            flagged=verdict.flagged,
            max_score=verdict.max_score,
        )


class PageOut(BaseModel):
    page_index: int
    width: int
    height: int
    char_count: int
    text_sha256: str
    markdown: str | None = Field(description="The page's text; null under ZDR or once purged.")
    verdict: VerdictOut | None


class DecisionOut(BaseModel):
    id: int
    flag_id: int
    item_id: int
    reviewer: str
    action: Action
    note: str | None
    status_before: FlagStatus
    status_after: FlagStatus
    created_at: datetime

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls(
            id=decision.id,
            flag_id=decision.flag_id,
            item_id=decision.item_id,
            reviewer=decision.reviewer,
            action=decision.action,
            note=decision.note,
            status_before=decision.status_before,
            status_after=decision.status_after,
            created_at=decision.created_at,
        )


class FlagDetailOut(BaseModel):
    id: int
    item_id: int
    kind: Literal["post", "document"]
    status: FlagStatus
    categories: list[str]
    max_score: float
    assignee: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    reference: Reference
    content: str | None = Field(description="The retained content; null under ZDR or once purged.")
    content_retained: bool
    model: str | None = Field(description="Model id of the whole-item verdict.")
    policy_version: str | None
    category_scores: dict[str, float] = Field(description="Every category's score (whole item).")
    verdicts: list[VerdictOut]
    pages: list[PageOut]
    decisions: list[DecisionOut]

    @classmethod
    def of(cls, detail: FlagDetail) -> FlagDetailOut:
        flag, item = detail.flag, detail.item
        whole = next((v for v in detail.verdicts if v.page_index < 0), None)
        by_page = {v.page_index: v for v in detail.verdicts if v.page_index >= 0}
        content = item.content if detail.content_visible else None
        return cls(
            id=flag.id,
            item_id=item.id,
            kind=item.kind,
            status=flag.status,
            categories=list(flag.categories),
            max_score=flag.max_score,
            assignee=flag.assignee,
            version=flag.version,
            created_at=flag.created_at,
            updated_at=flag.updated_at,
            reference=Reference(
                tenant=item.tenant,
                source=item.source,
                external_id=item.external_id,
                content_sha256=item.content_sha256,
            ),
            content=content,
            content_retained=content is not None,
            model=whole.model if whole else None,
            policy_version=whole.policy_version if whole else None,
            category_scores=dict(whole.category_scores) if whole else {},
            verdicts=[VerdictOut.of(v) for v in detail.verdicts],
            pages=[
                PageOut(
                    page_index=p.page_index,
                    width=p.width,
                    height=p.height,
                    char_count=p.char_count,
                    text_sha256=p.text_sha256,
                    markdown=p.markdown if detail.content_visible else None,
                    verdict=VerdictOut.of(by_page[p.page_index])
                    if p.page_index in by_page
                    else None,
                )
                for p in item.pages
            ],
            decisions=[DecisionOut.of(d) for d in detail.decisions],
        )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Verb
    version: int = Field(ge=0, le=2**31 - 1, description="The flag version the decision is on.")
    note: Text | None = Field(default=None, max_length=NOTE_MAX)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, le=2**31 - 1)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, le=2**31 - 1)
    assignee: Text | None = Field(
        default=None, min_length=1, max_length=256, description="Reviewer name; null unassigns."
    )
    note: Text | None = Field(default=None, max_length=NOTE_MAX)


class DecisionResult(BaseModel):
    decision: DecisionOut
    status: FlagStatus
    assignee: str | None
    version: int = Field(description="The flag's new version.")


class AuditPage(BaseModel):
    items: list[DecisionOut]
    next_before_id: int | None = Field(description="Pass as ?before_id= for the next page.")


class StatsOut(BaseModel):
    total: int
    by_category: dict[str, int]
    by_status: dict[str, int]
    by_day: dict[str, int] = Field(description="UTC day (YYYY-MM-DD) of the flag's creation.")


class ReviewerOut(BaseModel):
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, reviewer: Reviewer) -> ReviewerOut:
        return cls(
            name=reviewer.name,
            role=reviewer.role,
            created_at=reviewer.created_at,
            revoked_at=reviewer.revoked_at,
        )


class ReviewerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256, pattern=r"^[\w.@-]+$")
    role: Role


class NewReviewer(BaseModel):
    reviewer: ReviewerOut
    token: str = Field(description="Shown once; only its hash is stored.")
