"""One validated settings object for the whole of shelf.

Values come from keyword arguments (the CLI flags), then ``SHELF_*`` environment variables,
then defaults. Unknown keys are rejected rather than silently ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shelf.errors import ConfigError, pydantic_problem


class Settings(BaseSettings):
    """Settings of a shelf installation."""

    model_config = SettingsConfigDict(env_prefix="SHELF_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path("shelf-data"),
        description="Directory for the embedded database, the pseudonymisation key, "
        "indexes and model artifacts (SHELF_DATA_DIR, --data-dir).",
    )
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store (SHELF_DB_URL). Default: SQLite at "
        "<data_dir>/shelf.db. Use postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    host: str = Field(
        default="127.0.0.1", description="Address `shelf serve` binds to (SHELF_HOST, --host)."
    )
    port: int = Field(
        default=8000, ge=1, le=65535, description="Port of `shelf serve` (SHELF_PORT, --port)."
    )
    reload_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often `shelf serve` looks for a newly promoted model to swap to "
        "(0: never).",
    )
    import_batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="Rows per batch when importing files."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `shelf serve` answers with (SHELF_WORKERS, --workers); more than "
        "one needs the SQLite store, through which they share events and new items.",
    )
    search_encode_in_parallel: bool | None = Field(
        default=None,
        description="Encode a search query and search the vector index on a second thread "
        "while the lexical stage runs (SHELF_SEARCH_ENCODE_IN_PARALLEL): lower latency when a "
        "core is free, less throughput when every core is busy. Unset: on while the serving "
        "processes are fewer than the cores.",
    )
    search_response_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of search answers kept for identical anonymous requests, as "
        "serialised JSON (SHELF_SEARCH_RESPONSE_CACHE_BYTES; 0: off): the least recently used "
        "go first, so large answers cannot take the memory.",
    )
    model_cache: Path = Field(
        default=Path("~/.cache/shelf/models"),
        description="Where derived models (ONNX query encoders, compiled rankers) are cached "
        "(SHELF_MODEL_CACHE).",
    )
    embedding_cache: Path = Field(
        default=Path("~/.cache/shelf/embeddings"),
        description="Where text embeddings are cached by text hash, shared by training, the "
        "search index and evaluation (SHELF_EMBEDDING_CACHE).",
    )

    rate_limit_per_key: str | None = Field(
        default="2000/second",
        description="Requests one API key may make, per serving process, in the notation of "
        "the limits package ('2000/second', '100/minute'); empty: no limit "
        "(SHELF_RATE_LIMIT_PER_KEY).",
    )
    rate_limit_per_client: str | None = Field(
        default="200/second",
        description="Requests one client address may make, per serving process (loopback "
        "clients, such as a reverse proxy, are not limited); empty: no limit "
        "(SHELF_RATE_LIMIT_PER_CLIENT).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins whose pages may call the API from a browser, as a JSON list "
        "(SHELF_CORS_ORIGINS='[\"https://shop.example\"]'); empty: none.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers to (a JSON list; empty: any, once API keys "
        "exist; loopback names only while there are none) (SHELF_ALLOWED_HOSTS).",
    )
    page_key: str | None = Field(
        default=None,
        description="A search-scope API key the web page embeds to call the API "
        "(SHELF_PAGE_KEY); `shelf demo` creates one.",
    )
    page_notice: str | None = Field(
        default=None,
        description="A line every page shows at the top (SHELF_PAGE_NOTICE); `shelf demo` says "
        "there that a synthetic shop's data is made up.",
    )
    shopper_token_secret: str | None = Field(
        default=None,
        description="The secret a shop's server signs shopper tokens with, so that a "
        "request carrying one sees reasons that name that shopper's history "
        "(SHELF_SHOPPER_TOKEN_SECRET; docs/security.md).",
    )
    erasure_retrain_hours: float = Field(
        default=24.0,
        gt=0,
        description="How soon after a user's erasure the trained models are rebuilt without "
        "them and older versions holding them deleted (SHELF_ERASURE_RETRAIN_HOURS).",
    )

    @field_validator("rate_limit_per_key", "rate_limit_per_client")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if not value:
            return None
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as '100/second'") from None
        return value

    @property
    def encode_in_parallel(self) -> bool:
        """Whether search encodes on a second thread: as set, else only while ``workers`` leave
        a core free (with a worker per core the second thread only contends; measured in
        docs/search.md)."""
        if self.search_encode_in_parallel is not None:
            return self.search_encode_in_parallel
        return self.workers < (os.cpu_count() or 1)

    @field_validator("model_cache", "embedding_cache")
    @classmethod
    def _home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("db_url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("db_url must be a sqlite:// or postgresql:// SQLAlchemy URL")
        return value

    def as_environment(self) -> dict[str, str]:
        """These settings as SHELF_* variables, for child processes (serving workers)."""
        return {
            f"SHELF_{name.upper()}": json.dumps(value) if isinstance(value, list) else str(value)
            for name, value in self.model_dump(exclude_none=True).items()
        }

    @property
    def store_url(self) -> str:
        """The effective store URL."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'shelf.db').resolve()}"

    @property
    def key_path(self) -> Path:
        """Where the pseudonymisation key lives."""
        return self.data_dir / "pseudonym.key"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides on top.

    Raises :class:`~shelf.errors.ConfigError` naming each invalid setting.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name, message = pydantic_problem(error)
            problems.append(f"SHELF_{(name or '').upper()} ({name}): {message}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None
