"""The settings tree (pydantic-settings) and ``load_settings()``; never built at import.

Environment: prefix ``MODOCR_``, nested delimiter ``__`` (``MODOCR_KAFKA__BOOTSTRAP_SERVERS``).
``MISTRAL_API_KEY`` is read as well as ``MODOCR_MISTRAL__API_KEY``.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///modocr.db"
MISTRAL_CLOUD_URL = "https://api.mistral.ai"
LOCAL_API = "local"
"""``MODOCR_MISTRAL__BASE_URL=local``: the Mistral-compatible API runs in-process."""
FREE_TIER_REQUESTS_PER_S = 1.0
FREE_TIER_TOKENS_PER_MIN = 500_000
"""Mistral's free tier: the quota enforced against the cloud API when none is configured."""


class KafkaSettings(BaseModel):
    """How to reach the broker; ``embedded`` starts the bundled Tansu broker."""

    bootstrap_servers: str = "embedded"
    client_id: str = "modocr"
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_poll_records: int = Field(default=500, ge=1)
    fetch_max_wait_ms: int = Field(default=100, ge=0)
    """How long the broker may hold a fetch for data. Kafka answers as soon as data arrives (so
    this only sets how often an idle consumer asks again); Tansu holds every fetch the whole
    time, so this is also the embedded broker's delivery latency."""
    max_request_size: int = Field(default=16 * 1024 * 1024, ge=1024)
    compression_type: Literal["gzip", "lz4", "zstd", "snappy"] | None = "lz4"
    request_timeout_ms: int = Field(default=30_000, ge=1_000)

    @property
    def is_embedded(self) -> bool:
        return self.bootstrap_servers.strip().lower() == "embedded"


class TopicSettings(BaseModel):
    """Topic names; override per deployment with ``MODOCR_TOPICS__<NAME>``."""

    posts: str = "modocr.posts"
    documents: str = "modocr.documents"
    flagged: str = "modocr.flagged"
    decisions: str = "modocr.decisions"
    dlq: str = "modocr.dlq"


class QuotaSettings(BaseModel):
    """Client-side limits of the organisation's Mistral quota (``None``: unlimited)."""

    requests_per_s: float | None = Field(default=None, gt=0)
    tokens_per_min: int | None = Field(default=None, gt=0)
    pages_per_min: int | None = Field(default=None, gt=0)
    burst_s: float | None = Field(default=None, gt=0)
    """Depth of each bucket in seconds of its rate (at least one unit); ``None``: one second
    of requests, one minute of tokens and pages. Small values pace evenly (no bursts)."""
    headroom: float = Field(default=0.97, gt=0, le=1)
    """Fraction of the quota aimed at: margin for the skew between our clock and the server's."""
    share_by_partitions: bool = True
    """Each replica takes ``headroom * held / total`` partitions' worth (docs/throughput.md)."""


class MistralSettings(BaseModel):
    """The Mistral API and how the client talks to it."""

    base_url: str = "auto"
    """``auto``: the cloud API when a key is set, else ``local``; ``local``: in-process
    local API; anything else: an http(s) URL (e.g. ``modocr emulator``)."""
    api_key: SecretStr | None = None
    ocr_model: str = "mistral-ocr-4-0"
    moderation_model: str = "mistral-moderation-2603"
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=32, ge=1)
    retry_attempts: int = Field(default=6, ge=1)
    retry_timeout_s: float = Field(default=120.0, gt=0)
    retry_after_cap_s: float = Field(default=60.0, gt=0)
    use_files_api: bool = False
    use_batch_api: bool = False
    quota: QuotaSettings = QuotaSettings()

    def effective_quota(self) -> QuotaSettings:
        """The quota to enforce: the free tier fills unset limits on the cloud API only.

        The local API (in-process or ``modocr emulator``) stays unlimited unless configured.
        """
        if self.resolved_base_url() != MISTRAL_CLOUD_URL:
            return self.quota
        return self.quota.model_copy(
            update={
                "requests_per_s": self.quota.requests_per_s or FREE_TIER_REQUESTS_PER_S,
                "tokens_per_min": self.quota.tokens_per_min or FREE_TIER_TOKENS_PER_MIN,
            }
        )

    def resolved_base_url(self) -> str:
        """The URL the client will call, or ``local`` for the in-process API."""
        url = self.base_url.strip()
        if url == "auto":
            return MISTRAL_CLOUD_URL if self.api_key is not None else LOCAL_API
        return url.rstrip("/")


class PolicySettings(BaseModel):
    """How a verdict becomes a flag."""

    version: str = "default-1"
    thresholds: dict[str, float] = Field(default_factory=dict)
    """Per-category score thresholds; a category without one uses the API's boolean."""


class LimitSettings(BaseModel):
    """Bounds on input; beyond them an input is refused (dead-lettered) with a clear reason."""

    max_text_chars: int = Field(default=200_000, ge=1)
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_pages: int = Field(default=100, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)


class WorkerSettings(BaseModel):
    """Concurrency, batching and shutdown of the workers."""

    moderation_batch_max: int = Field(default=64, ge=1)
    moderation_batch_max_chars: int = Field(default=200_000, ge=1)
    moderation_linger_s: float = Field(default=0.02, ge=0)
    moderation_concurrency: int = Field(default=2, ge=1)
    dedupe_window_s: float = Field(default=86_400.0, ge=0)
    """Identical content (same model and policy) within this window reuses the stored verdict;
    0 disables dedupe."""
    dedupe_cache_entries: int = Field(default=20_000, ge=0)
    """Recent normalised-text hashes kept in memory per process (the database finds exact ones)."""
    ocr_concurrency: int = Field(default=4, ge=1)
    commit_interval_s: float = Field(default=0.5, ge=0)
    """Kafka offsets are committed at most this often (and on revoke and at shutdown); after
    a crash up to this much more is redelivered, which changes nothing stored."""
    relay_batch: int = Field(default=200, ge=1)
    relay_idle_s: float = Field(default=0.2, gt=0)
    shutdown_grace_s: float = Field(default=15.0, gt=0)
    retry_pause_s: float = Field(default=5.0, gt=0)


class ModelPrice(BaseModel):
    """List price of one model, in US dollars."""

    per_million_tokens: float = Field(default=0.0, ge=0)
    per_thousand_pages: float = Field(default=0.0, ge=0)


def _default_prices() -> dict[str, ModelPrice]:
    # mistral-api.md: moderation 2603 is free; OCR 3 (2503/2505/2512) $2 and OCR 4.x $4 per
    # 1,000 pages. The 2411 moderation price is not in the reference: $0.1/M tokens, its
    # historical list price. Keys match a returned model id exactly or as its longest prefix.
    return {
        "mistral-moderation-2603": ModelPrice(),
        "mistral-moderation-2411": ModelPrice(per_million_tokens=0.1),
        "mistral-moderation": ModelPrice(per_million_tokens=0.1),
        "mistral-ocr-25": ModelPrice(per_thousand_pages=2.0),
        "mistral-ocr-4": ModelPrice(per_thousand_pages=4.0),
        "mistral-ocr": ModelPrice(per_thousand_pages=4.0),
    }


class UsageSettings(BaseModel):
    """API usage accounting (``api_usage``): prices and daily per-tenant budgets (UTC days)."""

    prices: dict[str, ModelPrice] = Field(default_factory=_default_prices)
    daily_budget_usd: dict[str, float] = Field(default_factory=dict)
    """Per tenant; a tenant whose estimated cost today reaches it is paused until midnight UTC."""
    default_daily_budget_usd: float | None = Field(default=None, ge=0)
    """For tenants not in ``daily_budget_usd``; ``None``: no budget."""


class ReviewSettings(BaseModel):
    """The review UI and API (``modocr serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    secure_cookies: bool = False


class Settings(BaseSettings):
    """Everything modocr can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="MODOCR_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    database_pool_size: int | None = Field(default=None, ge=1)
    """PostgreSQL connections a process keeps open (and as many more on demand). Default:
    enough for the workers' concurrency (``pool_size_for``), so that no handler waits for a
    connection and none is opened and closed per batch."""
    zdr: bool = False
    retention_days: int = Field(default=30, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    mistral: MistralSettings = MistralSettings()
    policy: PolicySettings = PolicySettings()
    limits: LimitSettings = LimitSettings()
    worker: WorkerSettings = WorkerSettings()
    usage: UsageSettings = UsageSettings()
    review: ReviewSettings = ReviewSettings()

    @model_validator(mode="after")
    def _zdr_refuses_storage_apis(self) -> Settings:
        if self.zdr and (self.mistral.use_files_api or self.mistral.use_batch_api):
            raise ValueError(
                "MODOCR_ZDR=true forbids the Files and Batch APIs, which keep data on "
                "Mistral's side: unset MODOCR_MISTRAL__USE_FILES_API/USE_BATCH_API"
            )
        return self


def pool_size_for(settings: Settings) -> int:
    """The database pool size: the setting, or what the handlers can hold at once plus four
    (relay, dead-letter sink, purge, review): two per moderation slot (a batch records its
    usage on one connection while it stores its results on another), one per OCR slot."""
    if settings.database_pool_size is not None:
        return settings.database_pool_size
    worker = settings.worker
    return 2 * worker.moderation_concurrency + worker.ocr_concurrency + 4


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; raise ``ConfigError`` with one readable line.

    ``MISTRAL_API_KEY`` is used when ``MODOCR_MISTRAL__API_KEY`` is not set.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    if settings.mistral.api_key is None and (key := os.environ.get("MISTRAL_API_KEY")):
        settings = settings.model_copy(
            update={"mistral": settings.mistral.model_copy(update={"api_key": SecretStr(key)})}
        )
    url = settings.mistral.resolved_base_url()
    if url != LOCAL_API and not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"MODOCR_MISTRAL__BASE_URL must be auto, local or an http(s) URL, not {url!r}"
        )
    return settings


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = (
            "MODOCR_" + "__".join(str(p).upper() for p in error["loc"])
            if error["loc"]
            else "settings"
        )
        parts.append(f"{where}: {error['msg']}")
    return "invalid configuration: " + "; ".join(parts)
