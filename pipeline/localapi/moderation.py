"""Local moderation engine: an offensive-language model, PII detectors and small lexicons.

Scores follow Mistral's category keys (``mistral-moderation-2411``: 9, ``-2603``: 11). The profanity
model (alt-profanity-check, a bag-of-words linear model) is always called on a whole batch, never
text by text, and computed from its fitted weights (``_Profanity``: 1.7 ms for 13 texts, where
the library's ``predict_prob`` took 11.7 ms). Everything here is deterministic.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np

from pipeline.mistral.wire import MODERATION_CATEGORIES_2411, MODERATION_CATEGORIES_2603

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

logger = logging.getLogger(__name__)

CATEGORIES_2411: Final = MODERATION_CATEGORIES_2411
CATEGORIES_2603: Final = MODERATION_CATEGORIES_2603
DEFAULT_THRESHOLD: Final = 0.5
CONTEXT_WEIGHT: Final = 0.3
"""Earlier turns of a conversation count at this weight: they raise a score, never flag alone."""

_FLOOR: Final = 1e-4
_PII_SCORE: Final = 0.99


class _Lexicon(NamedTuple):
    """A category's phrases: ``pattern`` ignores case; ``lower`` is the same pattern for text
    already lowercased, which gives the same matches on ASCII text about four times faster
    (the phrases are lowercase, and ASCII has no letters whose case folding differs)."""

    pattern: re.Pattern[str]
    lower: re.Pattern[str]
    base: float

    def score(self, text: str, lowered: str | None) -> float:
        """``base`` for one hit, +0.03 for each further hit (at most 0.99); 0 without a hit.

        ``lowered``: ``text.lower()`` when ``text`` is ASCII, else ``None``.
        """
        found = self.lower.findall(lowered) if lowered is not None else self.pattern.findall(text)
        return min(0.99, self.base + 0.03 * (len(found) - 1)) if found else 0.0


def _lexicon(base: float, *patterns: str) -> _Lexicon:
    source = r"\b(?:" + "|".join(patterns) + r")\b"
    if source != source.lower():
        raise ValueError("lexicon phrases must be lowercase")
    return _Lexicon(re.compile(source, re.IGNORECASE), re.compile(source), base)


_IDENTITY = (
    r"(?:women|men|girls|gays?|lesbians?|trans(?:gender)? people|jews|muslims|christians|"
    r"hindus|blacks|whites|asians|mexicans|latinos|arabs|immigrants|refugees|migrants|"
    r"foreigners|disabled people)"
)
_LEXICONS: Final[dict[str, _Lexicon]] = {
    "hate_and_discrimination": _lexicon(
        0.9,
        rf"(?:all|those|these|the|you) {_IDENTITY} (?:are|should|must|deserve)",
        rf"{_IDENTITY} are (?:animals|vermin|parasites|subhuman|scum|inferior|disgusting)",
        r"go back to (?:your|where you) (?:own )?(?:country|came from)",
        r"subhuman",
        r"inferior race",
        r"(?:gas|deport|exterminate) (?:all|the|them)",
    ),
    "violence_and_threats": _lexicon(
        0.92,
        r"kill (?:you|him|her|them|everyone)",
        r"i(?:'ll| will| am going to|'m going to|'m gonna| gonna) "
        r"(?:kill|hurt|murder|shoot|stab|beat up|find) (?:you|u|ya|him|her|them|your)",
        r"hope (?:you|he|she|they) (?:die|dies|get killed)",
        r"(?:you're|you are) (?:dead|going to die)",
        r"(?:shoot|stab|strangle|beat up) (?:you|him|her|them)",
        r"burn (?:your|his|her|their) house",
        r"watch your back",
    ),
    "sexual": _lexicon(
        0.85,
        r"(?:have|having) sex",
        r"sex with",
        r"send (?:me )?nudes?",
        r"nudes?",
        r"naked",
        r"porn\w*",
        r"blow ?jobs?",
        r"horny",
        r"dick pics?",
        r"sexting",
    ),
    "selfharm": _lexicon(
        0.9,
        r"kill(?:ing)? myself",
        r"suicid(?:e|al)",
        r"end(?:ing)? my (?:own )?life",
        r"want to die",
        r"cut(?:ting)? myself",
        r"self[- ]harm",
        r"overdose on",
    ),
    "dangerous": _lexicon(
        0.9,
        r"(?:make|build|assemble) (?:a )?(?:pipe )?(?:bomb|explosives?)",
        r"nerve agents?",
        r"bio ?weapons?",
        r"(?:synthesi[sz]e|cook|make) (?:meth|sarin|ricin|fentanyl)",
        r"how to make (?:a )?(?:gun|poison)",
        r"poison (?:someone|him|her|them)",
    ),
    "criminal": _lexicon(
        0.88,
        r"launder(?:ing)? (?:the )?money",
        r"money laundering",
        r"steal (?:a|an|your|his|her|their|the)",
        r"shoplift\w*",
        r"hack into",
        r"(?:buy|sell|selling) (?:drugs|cocaine|heroin)",
        r"counterfeit\w*",
        r"fake (?:id|passport)s?",
        r"evade taxes",
        r"tax evasion",
        r"credit card fraud",
        r"break into (?:a|an|his|her|their|the)",
    ),
    "health": _lexicon(
        0.75,
        r"diagnos\w*",
        r"symptoms? of",
        r"what (?:medication|medicine|dose|dosage)",
        r"should i take",
        r"prescription",
        r"side effects",
        r"is it safe to take",
        r"treatment for",
        r"\d+ ?mg of",
    ),
    "financial": _lexicon(
        0.75,
        r"should i (?:invest|buy|sell)",
        r"invest(?:ing)? (?:in|my)",
        r"stock tips?",
        r"which stocks?",
        r"crypto(?:currency|currencies)?",
        r"bitcoin",
        r"mortgage",
        r"retirement (?:savings|fund|account)",
        r"401\(?k\)?",
        r"credit score",
    ),
    "law": _lexicon(
        0.75,
        r"legal advice",
        r"(?:can|should) i sue",
        r"su(?:e|ing) (?:him|her|them|my|the)",
        r"lawsuit",
        r"lawyer",
        r"attorney",
        r"is (?:it|this|that) (?:legal|illegal)",
        r"custody",
        r"take (?:him|her|them|you) to court",
    ),
    "jailbreaking": _lexicon(
        0.95,
        r"ignore (?:all )?(?:the |your |my )?(?:previous|prior|above|earlier) "
        r"(?:instructions|prompts?|rules)",
        r"disregard (?:all |your |the )?(?:previous |prior )?(?:instructions|rules|guidelines)",
        r"you are now (?:dan|in developer mode|unrestricted)",
        r"developer mode",
        r"do anything now",
        r"jailbreak\w*",
        r"pretend (?:you have|there are) no (?:rules|restrictions|filters)",
        r"(?:reveal|print|show) (?:me )?(?:your|the) system prompt",
    ),
}
_ANY_LEXICON: Final = re.compile("|".join(lexicon.lower.pattern for lexicon in _LEXICONS.values()))
"""Every lexicon at once, for lowercased ASCII text: no match here means no match in any."""

# How much the profanity probability p contributes to a category without a lexicon hit.
# Insults land in hate_and_discrimination, as Mistral's models do for plain abuse.
_PROFANITY_WEIGHT: Final[dict[str, float]] = {
    "hate_and_discrimination": 0.6,
    "violence_and_threats": 0.2,
    "sexual": 0.25,
}

_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_PHONE_RES = (
    re.compile(r"(?<![\w+])\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]?\d{2,4}){1,4}(?!\d)"),
    re.compile(r"(?<![\d+])(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"),
)
_NON_DIGITS = re.compile(r"\D")
_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b")
_SSN_RE = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum (payment card numbers)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:  # noqa: PLR2004 - the Luhn rule
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Whether ``candidate`` (spaces allowed) is an IBAN with a valid ISO 13616 mod-97 check."""
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():  # noqa: PLR2004
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _has_phone(text: str) -> bool:
    for pattern in _PHONE_RES:
        for match in pattern.finditer(text):
            digits = _NON_DIGITS.sub("", match.group())
            if 8 <= len(digits) <= 15:  # noqa: PLR2004 - E.164 length bounds (plus short national numbers)
                return True
    return False


def _has_iban(text: str) -> bool:
    for match in _IBAN_RE.finditer(text):
        # The pattern may run into a following word ("... 32 FOR"): try shorter prefixes.
        groups = match.group().split(" ")
        if any(iban_valid(" ".join(groups[:end])) for end in range(len(groups), 0, -1)):
            return True
    return False


def _has_card(text: str) -> bool:
    for match in _CARD_RE.finditer(text):
        digits = _NON_DIGITS.sub("", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):  # noqa: PLR2004 - ISO/IEC 7812 lengths
            return True
    return False


def pii_score(text: str) -> float:
    """0.99 when an email, phone number, Luhn-valid card, mod-97-valid IBAN or US SSN is present."""
    if (
        _EMAIL_RE.search(text)
        or _has_phone(text)
        or _has_card(text)
        or _has_iban(text)
        or _SSN_RE.search(text)
    ):
        return _PII_SCORE
    return _FLOOR


def _scores(text: str, profanity: float, *, with_pii: bool) -> dict[str, float]:
    """Scores of every category (the union of 2411 and 2603 keys) for one text."""
    scores: dict[str, float] = {}
    lowered = text.lower() if text.isascii() else None
    # Most texts match no lexicon: one search of all of them at once says so.
    hit = _ANY_LEXICON.search(lowered) if lowered is not None else True
    for category, lexicon in _LEXICONS.items():
        from_model = _PROFANITY_WEIGHT.get(category, 0.0) * profanity
        from_lexicon = lexicon.score(text, lowered) if hit else 0.0
        scores[category] = max(_FLOOR, from_model, from_lexicon)
    scores["pii"] = pii_score(text) if with_pii else _FLOOR
    return scores


@dataclass(frozen=True)
class ModerationInput:
    """One thing to classify: ``text`` (the last turn) given optional earlier ``context``."""

    text: str
    context: str = ""


@dataclass(frozen=True)
class Verdict:
    """Scores in [0, 1] and threshold decisions, keyed in the model's category order."""

    scores: dict[str, float]
    flags: dict[str, bool]


class _Profanity:
    """alt-profanity-check's ``predict_prob``, computed straight from its fitted parts.

    The model is a ``CalibratedClassifierCV`` over linear SVMs with sigmoid calibration: the
    probability is the mean over its folds of ``expit(-(a * (x·w + c) + b))``. Stacking the
    folds' weights makes that one sparse product per batch; scikit-learn's ``predict_proba``
    gives the same numbers (a test holds them to 1e-9) but spends most of a small batch's time
    in input validation, which made the local API the costliest process of a benchmark.
    """

    def __init__(self) -> None:
        # Imported here: loading the joblib model is the slow part and must not run at import.
        module = importlib.import_module("profanity_check.profanity_check")
        self.reference: Callable[[list[str]], Any] = module.predict_prob
        self._vectorizer = module.vectorizer
        folds = module.model.calibrated_classifiers_
        self._weights = np.vstack([fold.estimator.coef_ for fold in folds]).T
        self._intercepts = np.array([fold.estimator.intercept_[0] for fold in folds])
        self._a = np.array([fold.calibrators[0].a_ for fold in folds])
        self._b = np.array([fold.calibrators[0].b_ for fold in folds])

    def __call__(self, texts: list[str]) -> list[float]:
        decisions = self._vectorizer.transform(texts) @ self._weights + self._intercepts
        calibrated = 1.0 / (1.0 + np.exp(self._a * decisions + self._b))
        return [float(p) for p in calibrated.mean(axis=1)]


class ModerationEngine:
    """Classify texts into Mistral's moderation categories; construction loads the model (~1 s)."""

    def __init__(self, thresholds: Mapping[str, float] | None = None) -> None:
        self._profanity = _Profanity()
        self.thresholds = dict(thresholds or {})
        logger.info("moderation engine loaded (alt-profanity-check)")

    def profanity(self, texts: Sequence[str]) -> list[float]:
        """Profanity probabilities of ``texts`` in one batched model call."""
        if not texts:
            return []
        return self._profanity(list(texts))

    def classify(
        self, items: Sequence[ModerationInput], categories: Sequence[str]
    ) -> list[Verdict]:
        """One verdict per item, keyed by ``categories`` (``CATEGORIES_2411``/``CATEGORIES_2603``).

        Earlier turns (``context``) count at ``CONTEXT_WEIGHT`` and never for PII; the 2411 key
        ``dangerous_and_criminal_content`` is the max of ``dangerous`` and ``criminal``.
        """
        with_context = [i for i, item in enumerate(items) if item.context.strip()]
        batch = [item.text for item in items] + [items[i].context for i in with_context]
        probabilities = self.profanity(batch)
        context_p = dict(zip(with_context, probabilities[len(items) :], strict=True))
        verdicts = []
        for index, item in enumerate(items):
            scores = _scores(item.text, probabilities[index], with_pii=True)
            if index in context_p:
                earlier = _scores(item.context, context_p[index], with_pii=False)
                scores = {k: max(v, CONTEXT_WEIGHT * earlier[k]) for k, v in scores.items()}
            scores["dangerous_and_criminal_content"] = max(scores["dangerous"], scores["criminal"])
            ordered = {category: scores[category] for category in categories}
            flags = {c: s >= self.thresholds.get(c, DEFAULT_THRESHOLD) for c, s in ordered.items()}
            verdicts.append(Verdict(scores=ordered, flags=flags))
        return verdicts
