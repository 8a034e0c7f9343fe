"""An unreachable tracking server or database: a fast failure naming the (redacted) URL and the reason."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import LR, assert_clean

from harness.urls import RedactingFilter, redact

SECRET = "secretpw"


@pytest.fixture(autouse=True)
def _plugins_loaded() -> None:
    """Import the plugins first: the time measured is the tracking check's, not torch's import."""
    from harness.registry import load_plugins

    load_plugins()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server, a firewall that swallows)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("uri", [
    f"http://u:{SECRET}@127.0.0.1:1",
    f"https://u:{SECRET}@127.0.0.1:1/mlflow",
    f"postgresql://u:{SECRET}@127.0.0.1:1/mlflow",
    "silent-http",
    "silent-postgresql",
])
def test_unreachable_tracking_fails_fast_without_the_password(cli, tmp_path: Path, uri: str, silent_port: int,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    if uri.startswith("silent-"):
        scheme = "http" if uri == "silent-http" else "postgresql"
        uri = f"{scheme}://u:{SECRET}@127.0.0.1:{silent_port}/mlflow"
    res = cli("run", *LR, "--tracking-uri", uri, "--out", str(tmp_path))
    assert res.code == 1, res.text
    assert res.seconds < 12, f"took {res.seconds:.1f} s"
    assert redact(uri) in res.err and "u:***@127.0.0.1" in res.err, res.text
    assert "cannot reach" in res.err and ("refused" in res.err.lower() or "within" in res.err or "timeout" in res.err.lower())
    assert_clean(res, SECRET)
    assert SECRET not in caplog.text
    assert not (tmp_path / "results.parquet").exists()


def test_unreachable_storage_of_tune_hides_the_password(cli, tmp_path: Path) -> None:
    res = cli("tune", *LR, "--storage", f"postgresql://u:{SECRET}@127.0.0.1:1/optuna", "--out", str(tmp_path))
    assert res.code == 1 and "u:***@127.0.0.1:1" in res.err, res.text
    assert res.seconds < 12
    assert_clean(res, SECRET)


@pytest.mark.parametrize("text", [
    f"API request to http://u:{SECRET}@127.0.0.1:1/api/2.0/mlflow/experiments failed",
    f"postgresql+psycopg://user:{SECRET}@db:5432/mlflow?sslmode=require",
    f"connect to mysql://root:{SECRET}@h/db and https://a:{SECRET}@b/c",
    f"dsn host=h password={SECRET} user=u",
])
def test_redaction_of_messages_and_log_lines(text: str) -> None:
    assert SECRET not in redact(text) and "***" in redact(text)
    record = logging.LogRecord("mlflow", logging.WARNING, __file__, 1, "retrying %s", (text,), None)
    RedactingFilter().filter(record)
    assert SECRET not in record.getMessage()


def test_redaction_reaches_tracebacks_in_log_lines() -> None:
    try:
        raise ConnectionError(f"API request to http://u:{SECRET}@h:1/api failed")
    except ConnectionError:
        import sys

        record = logging.LogRecord("harness.runner", logging.ERROR, __file__, 1, "could not record", (), sys.exc_info())
    RedactingFilter().filter(record)
    assert SECRET not in logging.Formatter().format(record) and "u:***@h:1" in logging.Formatter().format(record)
