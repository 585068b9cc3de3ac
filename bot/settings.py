"""Settings from the environment and `.env` (DESIGN §2), and the key material derived from them.

A bad value must become one line naming the variable (exit status 2), never a traceback: the CLI
catches `SettingsError`, whose message is that line.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.vault import Keys

ENV_PREFIX = "SWBOT_"
FREE_BROADCAST_MAX = 30
PAID_BROADCAST_MAX = 1000
SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)


class SettingsError(Exception):
    """A configuration problem, phrased as one line that names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    token: SecretStr | None = None
    data_dir: Path = Path("./swbot-data")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    bot_api_url: str = "https://api.telegram.org/bot"
    bot_username: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    listen: str | None = None
    # Telegram's max_connections for the webhook (1-100): updates it pushes at once, to all instances.
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    api_listen: str | None = None
    api_key: SecretStr | None = None
    log_level: str = "INFO"
    max_message_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Notification pacing (issue 4): overall broadcast ceiling and per-chat spacing.
    broadcast_rate: float = Field(default=25.0, gt=0)
    per_chat_interval: float = Field(default=1.0, ge=0)
    outbox_poll_interval: float = Field(default=1.0, gt=0)
    # One ceiling for the whole bot (issue 10): shared through Redis when set, else per process.
    redis_url: str | None = None
    # Telegram's paid broadcast for notifications (allow_paid_broadcast): ceiling up to 1000/s.
    paid_broadcast: bool = False
    # Per-user throttle (issue 13): updates a second one user may send before being asked to slow down.
    user_rate: int = Field(default=8, ge=1, le=1000)

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v

    @field_validator("bot_api_url", "webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None if v == "" else v
        parts = urlsplit(v)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v

    @field_validator("listen", "api_listen")
    @classmethod
    def _hostport(cls, v: str | None) -> str | None:
        if not v:
            return None
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8443")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        if urlsplit(v).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @model_validator(mode="after")
    def _ceiling(self) -> Settings:
        # Above about 30 a second Telegram answers bulk messages with 429s unless paid broadcast is
        # on (limits.md §2), and never allows more than 1000.
        top = PAID_BROADCAST_MAX if self.paid_broadcast else FREE_BROADCAST_MAX
        if self.broadcast_rate > top:
            hint = "" if self.paid_broadcast else " unless SWBOT_PAID_BROADCAST is on"
            raise ValueError(f"broadcast_rate: must be at most {top}{hint}")
        return self

    @field_validator("bot_username")
    @classmethod
    def _username(cls, v: str | None) -> str | None:
        if not v:
            return None
        v = v.removeprefix("@")
        if not (v.replace("_", "").isalnum() and v.isascii() and 4 <= len(v) <= 32):
            raise ValueError("must be a Telegram bot username")
        return v

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        raw = v.get_secret_value()
        if not (1 <= len(raw) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in raw)):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ -")
        return v

    # -- derived values -------------------------------------------------------------------------

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'swbot.db'}"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    def require_token(self) -> str:
        if self.token is None or not self.token.get_secret_value().strip():
            raise SettingsError("SWBOT_TOKEN is not set: the bot token from @BotFather is required")
        return self.token.get_secret_value().strip()

    def keys(self) -> Keys:
        """Derived keys; generates `{data_dir}/secret.key` (0600) on first use when none is given."""
        if self.secret_key is not None:
            raw = self.secret_key.get_secret_value().encode()
            if len(raw) < 32:
                raise SettingsError("SWBOT_SECRET_KEY: must be at least 32 characters")
            return Keys.derive(raw)
        return Keys.derive(load_or_create_secret(self.data_dir))


def load_or_create_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_KEY_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = path.read_bytes().strip()
        else:
            secret = secrets.token_urlsafe(48).encode()
            with os.fdopen(fd, "wb") as fh:
                fh.write(secret + b"\n")
    except OSError as exc:
        raise SettingsError(f"SWBOT_DATA_DIR: cannot use {data_dir} for the secret key ({exc.strerror})") from exc
    if len(secret) < 32:
        raise SettingsError(f"SWBOT_SECRET_KEY: {path} holds a key shorter than 32 characters")
    return secret


def load_settings(**overrides: object) -> Settings:
    """Build settings or raise SettingsError with one line naming the first bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "?"
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if name == "?" and ": " in msg:  # a check across variables names its variable itself
            name, msg = msg.split(": ", 1)
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {msg}") from None
