"""Service URLs (tracking servers, databases): credentials redacted everywhere, reachability checked fast.

Every message, log line and tag that may show a URL goes through :func:`redact`, and
:class:`RedactingFilter` does the same for the log records of libraries (mlflow, urllib3,
SQLAlchemy) that print the URLs they were given. :func:`check_reachable` connects once with a
deadline so that a wrong host or a stopped server fails in seconds with the reason instead of
after minutes of a client's retries.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from harness.errors import HarnessError

DEFAULT_TIMEOUT_S = 10.0

# scheme://user:password@host  (the password may hold anything but '@', '/' and whitespace)
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/@:\s]*:)(?P<pw>[^@/\s]+)(?P<at>@)")
_QUERY_SECRET = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|api_key|access_key)=([^&;\s]+)")


class UnreachableError(HarnessError, ConnectionError):
    """A server named by a URL does not answer (the message holds the redacted URL and the reason)."""


def redact(text: str) -> str:
    """Replace every password in ``text`` (``scheme://user:pw@``, ``?password=...``) by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('head')}***{m.group('at')}", str(text))
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}=***", text)


def password(url: str) -> str | None:
    m = _USERINFO.search(url)
    return m.group("pw") if m else None


def scrub(text: str, url: str) -> str:
    """``text`` with ``url``'s password removed wherever it appears (also outside a URL)."""
    pw = password(url)
    if pw:
        text = text.replace(pw, "***")
    return redact(text)


class RedactingFilter(logging.Filter):
    """Rewrite a log record's message with every credential redacted (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:  # a traceback (log.exception) may quote a URL too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_INSTALLED: set[str] = set()


def install_log_redaction(*names: str) -> None:
    """Add :class:`RedactingFilter` to the named loggers and to every handler of the root logger."""
    flt = RedactingFilter()
    loggers = [logging.getLogger(n) for n in names or ("mlflow", "urllib3", "sqlalchemy", "alembic", "optuna", "harness")]
    for logger in loggers:
        if logger.name not in _INSTALLED:
            logger.addFilter(flt)  # records logged on this logger itself
            _INSTALLED.add(logger.name)
    # Logger filters do not see records of child loggers (mlflow.store.db.utils ...); handler
    # filters do, so every handler that may print one gets the filter too (mlflow has its own).
    for logger in [logging.getLogger(), *loggers]:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)


def _sql_engine_kwargs(url: str, timeout_s: float) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    if url.startswith(("postgresql", "postgres", "mysql")):
        return {"connect_args": {"connect_timeout": max(1, int(timeout_s / 2))}}
    return {}


def _reason(exc: BaseException, url: str) -> str:
    """The innermost useful line of a driver error, with any password removed."""
    inner: BaseException = exc
    while getattr(inner, "orig", None) is not None:
        inner = inner.orig  # type: ignore[attr-defined]
    while inner.__cause__ is not None and not str(inner).strip():
        inner = inner.__cause__
    text = " ".join(str(inner).split()) or type(inner).__name__
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    return f"{type(inner).__name__}: {scrub(text, url)[:400]}"


def _with_deadline(fn: Any, timeout_s: float, name: str) -> BaseException | None:
    """Run ``fn`` in a daemon thread; the error it raised, ``TimeoutError`` past the deadline, or None."""
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # reported in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name=name)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return TimeoutError(f"no answer within {timeout_s:.0f} s")
    return box.get("error")


def check_sql(url: str, what: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Open one connection to an SQLAlchemy URL within ``timeout_s``; raise :class:`UnreachableError`."""
    import sqlalchemy

    def connect() -> None:
        engine = sqlalchemy.create_engine(url, **_sql_engine_kwargs(url, timeout_s))
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()

    error = _with_deadline(connect, timeout_s, "sql-reachability-check")
    if error is None:
        return
    shown = redact(url)
    if isinstance(error, TimeoutError):
        raise UnreachableError(f"cannot reach the {what} {shown}: no answer within {timeout_s:.0f} s. Check the host "
                               f"name, port and firewall, and that the database server is running.")
    raise UnreachableError(
        f"cannot reach the {what} {shown}: {_reason(error, url).rstrip('.')}; check that the database server is "
        f"running and reachable, and the user, password and database name in the URL."
    ) from None


def check_http(url: str, what: str, timeout_s: float = DEFAULT_TIMEOUT_S, path: str = "/health") -> None:
    """One HTTP GET of ``url + path`` within ``timeout_s`` (any HTTP answer counts as reachable)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.hostname:
        raise UnreachableError(f"the {what} {redact(url)} names no host; expected e.g. http://HOST:5000")
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    probe = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, "", ""))

    def get() -> None:
        try:
            with urllib.request.urlopen(probe, timeout=max(1.0, timeout_s / 2)):
                pass
        except urllib.error.HTTPError:
            return  # the server answered (401, 404 ...): it is there

    error = _with_deadline(get, timeout_s, "http-reachability-check")
    if error is None:
        return
    reason = getattr(error, "reason", None) or error
    text = f"{type(reason).__name__}: {scrub(str(reason), url)}" if not isinstance(reason, str) else scrub(reason, url)
    raise UnreachableError(
        f"cannot reach the {what} {redact(url)} ({text}). Check the address, that the server is running "
        f"(e.g. 'mlflow server --host 0.0.0.0 --port {parts.port or 5000}') and any firewall in between."
    )
