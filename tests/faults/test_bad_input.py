"""Bad input that used to change a result silently, escape its folder or fail deep inside a library."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from faultkit import DATASET, LR, assert_clean

QRELS = "1 0 d1 1 1\n1 0 d2 1 0\n1 0 d3 1 1\n2 0 d1 1 0\n2 0 d4 1 1\n"
RUN = "".join(f"{t} Q0 {d} {r} {s} x\n" for t, d, r, s in
              [(1, "d1", 1, 0.9), (1, "d2", 2, 0.8), (1, "d3", 3, 0.1), (2, "d4", 1, 0.7), (2, "d1", 2, 0.5)])


def _eval(cli, tmp_path: Path, qrels: bytes, run: bytes, name: str):
    q, r = tmp_path / f"{name}.qrels", tmp_path / f"{name}.run"
    q.write_bytes(qrels)
    r.write_bytes(run)
    return cli("eval", "trec", "--qrels", str(q), "--run", str(r))


def test_bom_in_qrels_and_run_changes_nothing_and_is_reported(cli, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plain = _eval(cli, tmp_path, QRELS.encode(), RUN.encode(), "plain")
    bom = _eval(cli, tmp_path, b"\xef\xbb\xbf" + QRELS.encode(), b"\xef\xbb\xbf" + RUN.encode(), "bom")
    assert plain.code == 0 and bom.code == 0, bom.text
    assert bom.out.replace("bom", "plain") == plain.out  # same scores
    assert_clean(bom)
    said = bom.err + caplog.text
    assert "byte-order mark" in said and "bom.qrels" in said and "bom.run" in said


def test_graded_judgment_is_reported(cli, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    graded = _eval(cli, tmp_path, QRELS.replace("d3 1 1", "d3 1 7").encode(), RUN.encode(), "graded")
    assert graded.code == 0
    assert "judgment(s) above 1" in graded.err + caplog.text and "graded.qrels:3" in graded.err + caplog.text


@pytest.mark.parametrize("study", ["../../../outside/ESCAPED", "a/b", "..", ".hidden", "x\ny"])
def test_traversal_study_names_are_refused(cli, tmp_path: Path, study: str) -> None:
    out = tmp_path / "deep" / "er" / "out"
    res = cli("tune", *LR, "--trials", "1", "--out", str(out), "--study", study)
    assert res.code == 1 and "--study" in res.err and "file name" in res.err, res.text
    assert_clean(res)
    assert not (tmp_path / "outside").exists() and not (out / "tuned").exists()


def test_traversal_lock_names_are_refused(cli, tmp_path: Path) -> None:
    from harness.errors import InvalidParameterError
    from harness.tuning_lock import lock_path

    with pytest.raises(InvalidParameterError, match="file name"):
        lock_path(tmp_path, "../../lr", "trecvid2013-mini")


def test_under_keeps_paths_under_their_root(tmp_path: Path) -> None:
    from harness.errors import InvalidParameterError
    from harness.names import under

    assert under(tmp_path, "a", "b.png") == (tmp_path / "a" / "b.png").resolve()
    with pytest.raises(InvalidParameterError, match="outside"):
        under(tmp_path, "..", "x")


def test_non_finite_settings_are_refused_before_any_work(cli, tmp_path: Path) -> None:
    for value in ("inf", "nan", "-inf"):
        res = cli("run", *LR, "--set", f"C={value}", "--out", str(tmp_path / "o"))
        assert res.code == 1 and "'C'" in res.err and value in res.err, res.text
        assert_clean(res)
    assert not (tmp_path / "o" / "mlflow.db").exists()


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_sweep_workers_below_one_are_refused(cli, tmp_path: Path, workers: str) -> None:
    for extra in ([], ["--dry-run"]):
        res = cli("sweep", "--methods", "lr", "--datasets", "trecvid2013-mini", "--workers", workers,
                  "--out", str(tmp_path), *extra)
        assert res.code == 1 and "--workers" in res.err and workers in res.err, res.text
        assert "local worker" not in res.out


def test_out_naming_a_file_and_harness_home_naming_a_file(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    res = cli("run", *LR, "--out", str(f))
    assert res.code == 1 and str(f) in res.err and "--out" in res.err and "unexpected" not in res.err, res.text
    monkeypatch.setenv("HARNESS_HOME", str(f))
    res = cli("cache", "ls")
    assert res.code == 1 and "HARNESS_HOME" in res.err and str(f) in res.err, res.text


def test_config_naming_a_folder(cli, tmp_path: Path) -> None:
    res = cli("run", *LR, "--config", str(tmp_path), "--out", str(tmp_path / "o"))
    assert res.code == 1 and "is a folder" in res.err and str(tmp_path) in res.err, res.text


def test_tune_status_creates_no_database(cli, tmp_path: Path) -> None:
    res = cli("tune", "--status", "--out", str(tmp_path))
    assert res.code == 0 and "no studies" in res.out, res.text
    assert not (tmp_path / "optuna.db").exists()


def test_corrupt_optuna_db_is_named(cli, tmp_path: Path) -> None:
    (tmp_path / "optuna.db").write_bytes(b"this is not a database at all" * 100)
    res = cli("tune", "--status", "--out", str(tmp_path))
    assert res.code == 1 and "optuna.db" in res.err and "not an SQLite database" in res.err, res.text
    assert_clean(res)


def test_lock_file_values_are_named_as_from_the_lock(cli, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import yaml

    lock = tmp_path / "tuned" / f"lr@{DATASET}.yaml"
    lock.parent.mkdir()
    record = {"method": "lr", "dataset": DATASET, "params": {"C": -3}, "study": "s", "config_hash": "h",
              "storage": "sqlite:///x", "trials_counted": 2, "budget": 6, "trials_requested": 6}
    lock.write_text(yaml.safe_dump(record))
    res = cli("run", *LR, "--tuned", "--out", str(tmp_path))
    assert res.code == 1 and str(lock) in res.err and "comes from the lock file" in res.err, res.text
    record["params"] = {"C": 0.5}
    lock.write_text(yaml.safe_dump(record))
    from harness.tuning_lock import read_lock

    read_lock(tmp_path, "lr", DATASET)
    assert "unfinished study: 2 of 6 trials" in caplog.text


def test_cache_clear_without_a_terminal_refuses(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    for kind in ("features", "backbones"):
        (home / kind / "k1").mkdir(parents=True)
        (home / kind / "k1" / "meta.json").write_text('{"files": {}}')
    monkeypatch.setenv("HARNESS_HOME", str(home))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    res = cli("cache", "clear")
    assert res.code == 1 and "-y" in res.err and str(home) in res.err, res.text
    assert (home / "features" / "k1").exists() and (home / "backbones" / "k1").exists()
    res = cli("cache", "clear", "--kind", "bogus", "-y")
    assert res.code == 1 and "bogus" in res.err and "backbones" in res.err and "features" in res.err, res.text
    res = cli("cache", "clear", "--kind", "weights", "-y")
    assert res.code == 0, res.text
    assert not (home / "backbones" / "k1").exists() and (home / "features" / "k1").exists()


def test_sigterm_during_a_cache_build_leaves_no_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from harness.cache import Cache
    from harness.interrupts import Terminated, install_sigterm_handler

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    previous = signal.getsignal(signal.SIGTERM)
    install_sigterm_handler()
    try:
        def builder(folder: Path) -> None:
            (folder / "half.bin").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)

        with pytest.raises(Terminated):
            Cache().build("features", "k", builder)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not list((tmp_path / "features").iterdir())


def test_method_task_mismatch_fails_before_loading_data(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HARNESS_HOME", str(home))
    res = cli("run", "--method", "lr", "--dataset", "ucf101-mini", "--out", str(tmp_path / "o"))
    assert res.code == 1 and "multiclass task" in res.err and "'lr'" in res.err, res.text
    assert not (home / "datasets").exists()  # the miniature was not even generated


def test_bad_layer_or_backbone_fails_before_any_work(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HARNESS_HOME", str(home))
    res = cli("run", *LR, "--set", "backbone=mini_alexnet", "--set", "layer=fc9", "--out", str(tmp_path / "o"))
    assert res.code == 1 and "'fc9'" in res.err and "fc7" in res.err, res.text
    assert_clean(res)
    assert not (home / "datasets").exists() and not (tmp_path / "o" / "mlflow.db").exists()
