"""Logging setup: secrets and personal data never reach a log line.

Known secrets (bot token, API key, master key) are replaced wherever they appear, including in
URLs that httpx logs; ID-number and mobile-phone shaped digit runs are masked as a safety net
(names cannot be recognised by shape, so the code simply never logs them).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable

from pydantic import SecretStr

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        text = _ID_NUMBER.sub("[id]", text)
        return _PHONE.sub("[phone]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: str, secrets: Iterable[SecretStr | None] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(s.get_secret_value() for s in secrets if s is not None))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # python-telegram-bot's RetryAfter reads its own deprecated property when it is made (PTB 22.2+):
    # a warning on stderr at every first 429 that says nothing about this program.
    warnings.filterwarnings("ignore", "Deprecated since version v22.2", module="telegram.error")
