"""Issue 15 cases 4, 10, 11 and 12 at the command line, none of which may need TFX: bad
--root / --data / config values and crons that never fire are one "error:" line with a
documented exit code, found before TFX is imported and leaving no run behind; a root held
by another command is named (pid, command, since when), and --wait waits for it."""

import os
import re
import signal
import subprocess
import time

import pytest
from conftest import VENV_BIN

from t2i import root_lock, run_control

T2I = os.path.join(VENV_BIN, "t2i")


def t2i(*args, timeout=120):
    return subprocess.run([T2I, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "data")
    assert t2i("sample-data", "--out", out, "--images", "6").returncode == 0
    return out


def assert_refused_before_tfx(result, code: int, message: str, root) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.splitlines()[0] == f"error: {message}", result.stderr
    assert "Traceback" not in result.stderr
    assert "building the" not in result.stdout  # TFX was never imported
    assert not os.path.exists(os.path.join(str(root), "metadata.sqlite"))  # no run left


def test_a_root_that_is_a_file_or_not_writable_is_named(tmp_path, data):
    root_file = tmp_path / "root-file"
    root_file.write_text("not a folder")
    result = t2i("run", "--data", data, "--root", str(root_file))
    assert_refused_before_tfx(
        result, 2, f"--root {root_file}: it is a file, not a folder", root_file
    )
    result = t2i("run", "--data", data, "--root", "/sys/kernel")  # read-only, even for root
    assert result.returncode == 2 and result.stderr.startswith(
        "error: --root /sys/kernel: cannot write in it: "
    ), result.stderr


def test_a_typo_in_data_fails_at_once_without_a_run(tmp_path, data):
    root = tmp_path / "runs"
    result = t2i("run", "--data", data + "-typo", "--root", str(root))
    assert_refused_before_tfx(result, 3, f"--data {data}-typo: no such folder", root)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = t2i("run", "--data", str(empty), "--root", str(root))
    assert_refused_before_tfx(
        result,
        3,
        f"--data {empty}: no annotations file "
        "(annotations/captions_*.json, at the top or in span-<N>/ "
        "folders); is this a COCO captions collection?",
        root,
    )


def test_every_out_of_range_value_is_named_before_the_dag_starts(tmp_path, data):
    root = tmp_path / "runs"
    result = t2i(
        "run",
        "--data",
        data,
        "--root",
        str(root),
        "--set",
        "trainer.epochs=-1",
        "--set",
        "searcher.target_recall_at_10=1.5",
        "--set",
        "data.eval_fraction=0",
        "--set",
        "embedder.batch_size=0",
        "--set",
        "searcher.lookup=int4",
    )
    assert_refused_before_tfx(
        result,
        2,
        (
            "invalid config: data: eval_fraction must be between 0 and 1 (exclusive), got 0.0; "
            "trainer.epochs must be at least 1 (got -1); "
            "searcher.lookup = 'int4'; expected one of auto, int8, float; "
            "searcher.target_recall_at_10 must be in (0, 1]; "
            "embedder.batch_size must be >= 1, got 0"
        ),
        root,
    )


def test_crons_that_never_fire_are_refused(tmp_path):
    for cron, mode in (
        ("0 3 31 2 *", ["--ticks", "1"]),
        ("0 3 30 2 *", ["--print-crontab"]),
        ("0 0 31 4,6 *", ["--print-crontab"]),
    ):
        result = t2i("schedule", "--local", "--cron", cron, "--root", str(tmp_path), *mode)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(
            f'error: Invalid value for --cron: cron "{cron}": never fires'
        ), result.stderr
    assert (
        t2i(
            "schedule",
            "--local",
            "--cron",
            "0 3 29 2 *",
            "--print-crontab",
            "--root",
            str(tmp_path),
        ).returncode
        == 0
    )  # leap days do come


def test_one_error_prefix_and_documented_exit_codes():
    result = t2i("no-such-command")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: No such command 'no-such-command'."
    help_text = " ".join(t2i("--help").stdout.split())
    assert (
        "Exit codes: 0 success; 1 the command or run failed; 2 usage or configuration "
        "error; 3 the data is unusable; 4 the pipeline root is in use by another command; "
        "130 interrupted (Ctrl-C); 143 terminated (SIGTERM)."
    ) in help_text
    result = t2i("runs", "--root", "/nonexistent-root")
    assert result.returncode == 1 and result.stderr.startswith("error: /nonexistent-root/")


def test_a_held_root_is_refused_naming_the_holder_and_wait_waits(tmp_path, data):
    root = tmp_path / "runs"
    lock = root_lock.RootLock(str(root), command="t2i run --data elsewhere")
    assert lock.try_acquire()
    lock.set_run_id("20261130-041500")
    try:
        result = t2i("run", "--data", data, "--root", str(root))
        assert result.returncode == 4, result.stderr
        assert re.fullmatch(
            rf"error: {root} is in use by pid {os.getpid()} \(`t2i run --data elsewhere`, run "
            r"20261130-041500\) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d; wait for it to finish, "
            r"or pass --wait to wait for it",
            result.stderr.strip(),
        ), result.stderr
        assert root_lock.active_run(str(root)) == (True, "20261130-041500")

        waiting = subprocess.Popen(
            [T2I, "run", "--data", data, "--root", str(root), "--wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = waiting.stdout.readline()
        assert first.startswith(
            f"t2i: waiting for pid {os.getpid()} (`t2i run --data "
            f"elsewhere`, run 20261130-041500) since "
        ), first
        time.sleep(1)
        assert waiting.poll() is None  # still waiting
    finally:
        lock.release()
    assert "building the full pipeline" in waiting.stdout.readline()  # it got the root
    waiting.send_signal(signal.SIGTERM)  # stopped while importing TFX: before any run
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 143, (out, err)
    assert "t2i: interrupted by SIGTERM before the run started" in out
    assert root_lock.active_run(str(root)) == (False, "")


def test_a_run_that_did_not_finish_and_is_not_running_shows_as_abandoned():
    def shown(state, active, finished=False, interrupted=False):
        return run_control.shown_state(state, "r1", active, finished, interrupted)

    assert shown("running", None) == "abandoned"  # kill -9 during a step
    assert shown("complete", None) == "abandoned"  # kill -9 between two steps
    assert shown("complete", "r2") == "abandoned"  # another run holds the root now
    assert shown("running", "r1") == "running"
    assert shown("complete", "r1") == "running"  # between two steps, still going
    assert shown("complete", None, interrupted=True) == "failed"  # SIGTERM between steps
    assert shown("failed", None, finished=True) == "failed"
    assert shown("failed", None) == "failed"  # a step failed, then the process was killed
    assert shown("complete", None, finished=True) == "complete"
