"""The moderation policy: how a model's scores and booleans become a flag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipeline.settings import PolicySettings


@dataclass(frozen=True)
class Judgement:
    """One verdict after the policy: which categories flag it, and the scores."""

    categories: dict[str, bool]
    category_scores: dict[str, float]
    flagged_categories: list[str]

    @property
    def flagged(self) -> bool:
        return bool(self.flagged_categories)

    @property
    def max_score(self) -> float:
        """Highest score among flagged categories, else among all."""
        pool = self.flagged_categories or list(self.category_scores)
        return max((self.category_scores.get(c, 0.0) for c in pool), default=0.0)


@dataclass(frozen=True)
class Policy:
    """Default: the API's booleans. A category with a threshold is flagged when score ≥ it."""

    version: str
    thresholds: Mapping[str, float]

    @classmethod
    def from_settings(cls, settings: PolicySettings) -> Policy:
        return cls(version=settings.version, thresholds=dict(settings.thresholds))

    def judge(self, categories: Mapping[str, bool], scores: Mapping[str, float]) -> Judgement:
        thresholds = self.thresholds
        if thresholds:
            flagged = sorted(
                name
                for name in set(categories) | set(scores)
                if (
                    scores.get(name, 0.0) >= thresholds[name]
                    if name in thresholds
                    else categories.get(name, False)
                )
            )
        else:  # the API's booleans as they are (the common case, once per post)
            flagged = sorted(name for name, value in categories.items() if value)
        return Judgement(dict(categories), {k: float(v) for k, v in scores.items()}, flagged)

    def combine(self, judgements: Sequence[Judgement]) -> Judgement:
        """The verdict of a whole from its parts (pages, chunks): the maximum per category."""
        scores: dict[str, float] = {}
        booleans: dict[str, bool] = {}
        for part in judgements:
            for name, score in part.category_scores.items():
                scores[name] = max(scores.get(name, 0.0), score)
            for name, value in part.categories.items():
                booleans[name] = booleans.get(name, False) or value
        flagged = sorted({c for part in judgements for c in part.flagged_categories})
        return Judgement(booleans, scores, flagged)
