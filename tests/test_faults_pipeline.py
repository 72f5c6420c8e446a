"""Issue 15's fault injection on the real pipeline (the `t2i` command in subprocesses, small
towers, a 48-image sample): a run killed with SIGKILL at a component boundary and one
stopped with SIGTERM, then re-runs that resume from the cache and finish; a second
`t2i run` on the same root while one runs; a truncated pushed searcher repaired by the next
run; a new span through the rebuild with the index growth in its summary.

One module-scoped sequence feeds every test (each run costs tens of seconds on 2 cores).
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import VENV_BIN

pytestmark = pytest.mark.slow

T2I = os.path.join(VENV_BIN, "t2i")
SETTINGS = [
    "trainer.image_tower=small_cnn",
    "trainer.text_tower=small_text",
    "trainer.epochs=1",
    "trainer.batch_size=8",
    "trainer.image_size=32",
    "evaluator.min_recall_at_10=0.0",
    "validator.min_recall_at_10=0.5",
]


def t2i(*args, timeout=600):
    return subprocess.run([T2I, *args], capture_output=True, text=True, timeout=timeout)


def run_args(root, data, *extra):
    args = ["run", "--root", str(root), "--data", str(data), *extra]
    for setting in SETTINGS:
        args += ["--set", setting]
    return args


class Running:
    """`t2i run` in the background, its stdout read line by line."""

    def __init__(self, args):
        self.process = subprocess.Popen(
            [T2I, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 400) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if re.search(pattern, line):
                return line
        self.process.kill()
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 400) -> int:
        rest, _ = self.process.communicate(timeout=timeout)
        self.lines += rest.splitlines()
        return self.process.returncode

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def runs_table(root) -> list[dict]:
    result = t2i("runs", "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    data, root = base / "data", base / "runs"
    assert t2i("sample-data", "--out", str(data), "--spans", "1", "--images", "48").returncode == 0
    seen = {}

    # 1. SIGKILL right after StatisticsGen finished: nothing can mark that run.
    killed = Running(run_args(root, data))
    killed.wait_for(r"StatisticsGen\s+done")
    killed.process.send_signal(signal.SIGKILL)
    seen["killed_code"] = killed.finish()
    seen["after_kill"] = runs_table(root)

    # 2. Resume; while it runs, a second run on the root is refused naming the holder;
    #    then SIGTERM during training.
    resumed = Running(run_args(root, data))
    resumed.wait_for(r"DataGate\s+(done|cached)")
    seen["concurrent"] = t2i(*run_args(root, data), timeout=120)
    seen["resumed_pid"] = resumed.process.pid
    time.sleep(3)  # into the Trainer, the longest step
    resumed.process.send_signal(signal.SIGTERM)
    seen["terminated_code"] = resumed.finish()
    seen["terminated_output"] = resumed.output
    seen["after_term"] = runs_table(root)

    # 3. Resume again: finishes from the cache.
    seen["final"] = t2i(*run_args(root, data))
    seen["after_final"] = runs_table(root)

    # 4. A truncated serving copy: the next (fully cached) run repairs it.
    latest = root / "serving" / "latest" / "searcher.tflite"
    seen["pushed_size"] = latest.stat().st_size
    with open(latest, "r+b") as f:
        f.truncate(1000)
    seen["repair"] = t2i(*run_args(root, data))
    seen["repaired_size"] = latest.stat().st_size
    seen["search"] = t2i("search", "a red circle", "--root", str(root), "-k", "3")

    # 5. A valid next span through the rebuild.
    assert t2i("sample-data", "--out", str(data), "--add-span", "--images", "12").returncode == 0
    seen["rebuild"] = t2i(*run_args(root, data, "--pipeline", "rebuild"))
    return seen


def test_a_killed_run_shows_as_abandoned(sequence):
    assert sequence["killed_code"] == -signal.SIGKILL
    (row,) = sequence["after_kill"]
    assert row["state"] == "abandoned"


def test_a_second_run_on_the_root_is_refused_naming_the_holder(sequence):
    concurrent = sequence["concurrent"]
    assert concurrent.returncode == 4, concurrent.stderr
    assert re.search(
        rf"^error: .*runs is in use by pid {sequence['resumed_pid']} "
        r"\(`t2i run --root .*`, run \S+\) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d; "
        r"wait for it to finish, or pass --wait",
        concurrent.stderr,
    ), concurrent.stderr
    assert "building the full pipeline" not in concurrent.stdout  # refused before TFX


def test_sigterm_marks_the_run_failed_and_exits_143(sequence):
    assert sequence["terminated_code"] == 143, sequence["terminated_output"]
    assert re.search(
        r"t2i: interrupted by SIGTERM: run \S+ marked failed \(\d+ unfinished "
        r"step\(s\)\); finished steps are cached",
        sequence["terminated_output"],
    )
    states = [row["state"] for row in sequence["after_term"]]
    assert states == ["abandoned", "failed"] or sorted(states) == ["abandoned", "failed"]


def test_the_re_run_resumes_from_the_cache_and_nothing_is_left_running(sequence):
    final = sequence["final"]
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr
    assert re.search(r"CocoExampleGen\s+cached", final.stdout)
    assert re.search(r"StatisticsGen\s+cached", final.stdout)
    assert "pushed searcher version 1" in final.stdout
    states = sorted(row["state"] for row in sequence["after_final"])
    assert states == ["abandoned", "complete", "failed"]
    assert "running" not in states


def test_a_truncated_serving_copy_is_repaired_by_the_next_run(sequence):
    repair = sequence["repair"]
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr
    assert re.search(
        r"serving: version 1 was damaged \(searcher.tflite: 1000 bytes, \d+ when "
        r"pushed\); restored from the pushed artifacts",
        repair.stdout,
    )
    assert sequence["repaired_size"] == sequence["pushed_size"]
    assert sequence["search"].returncode == 0, sequence["search"].stderr


def test_a_new_span_grows_the_index_and_the_summary_says_by_how_much(sequence):
    rebuild = sequence["rebuild"]
    assert rebuild.returncode == 0, rebuild.stdout[-3000:] + rebuild.stderr
    assert re.search(
        r"^index 48 -> 60 items \(12 new, 0 already indexed\)$", rebuild.stdout, re.MULTILINE
    ), rebuild.stdout
    assert "pushed searcher version 2" in rebuild.stdout
