"""Cron parsing and conversion, the schedule in words, the rebuild lock and the local
scheduler (t2i/schedule/, `t2i schedule --local`)."""

import datetime
import io
import os
import re
import subprocess
import sys

import pytest

from t2i.configs import Config
from t2i.schedule.cron import CronError, parse_cron
from t2i.schedule.job import crontab_line, rebuild_job
from t2i.paths import Paths
from t2i.root_lock import RootLock
from t2i.schedule.loop import run_scheduler


def RebuildLock(path: str) -> RootLock:  # noqa: N802 (the root lock at a given file)
    return RootLock(os.path.dirname(path), command="t2i test", path=path)


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVERY_SECOND = parse_cron("* * * * * *")


@pytest.mark.parametrize(
    "expression, kfp, crontab, words",
    [
        ("0 3 * * *", "0 0 3 * * *", "0 3 * * *", "at 03:00 every day"),
        ("*/15 * * * *", "0 */15 * * * *", "*/15 * * * *", "every 15 minutes"),
        ("30 2 * * 1-5", "0 30 2 * * 1-5", "30 2 * * 1-5", "at 02:30 on Monday through Friday"),
        (
            "0 9,17 * * MON-FRI",
            "0 0 9,17 * * 1-5",
            "0 9,17 * * 1-5",
            "at 09:00 and 17:00 on Monday through Friday",
        ),
        ("0 0 1 * *", "0 0 0 1 * *", "0 0 1 * *", "at 00:00 on day 1 of the month"),
        (
            "0 4 * JAN,JUL SUN",
            "0 0 4 * 1,7 0",
            "0 4 * 1,7 0",
            "at 04:00 on Sunday in January and July",
        ),
        ("@daily", "0 0 0 * * *", "0 0 * * *", "at 00:00 every day"),
        ("@hourly", "0 0 * * * *", "0 * * * *", "at minute 0 of every hour"),
        # KFP's own form (6 fields, seconds first) is kept; "?" is robfig's "any".
        ("0 0 9 ? * 2-6", "0 0 9 * * 2-6", "0 9 * * 2-6", "at 09:00 on Tuesday through Saturday"),
        ("15 30 4 * * *", "15 30 4 * * *", None, "at 04:30:15 every day"),
        ("*/2 * * * * *", "*/2 * * * * *", None, "every 2 seconds"),
    ],
)
def test_cron_forms_and_words(expression, kfp, crontab, words):
    cron = parse_cron(expression)
    assert cron.kfp == kfp
    assert cron.crontab == crontab
    assert cron.words == words


def test_five_fields_are_not_read_as_kfp_seconds():
    # kubeflow/pipelines#5014: "0 3 * * *" handed to KFP as-is would mean 03 minutes past
    # every hour at second 0... it must become "0 0 3 * * *" and fire once a day.
    start = datetime.datetime(2025, 1, 1, 12, 0)
    assert parse_cron("0 3 * * *").next_times(start, 2) == [
        datetime.datetime(2025, 1, 2, 3, 0),
        datetime.datetime(2025, 1, 3, 3, 0),
    ]
    assert parse_cron("*/15 * * * *").next_times(start, 2) == [
        datetime.datetime(2025, 1, 1, 12, 15),
        datetime.datetime(2025, 1, 1, 12, 30),
    ]


@pytest.mark.parametrize(
    "expression, message",
    [
        ("61 * * * *", 'minute field "61": 61 is out of range 0-59'),
        ("* 24 * * *", 'hour field "24": 24 is out of range 0-23'),
        ("* * 0 * *", 'day-of-month field "0": 0 is out of range 1-31'),
        ("* * * 13 *", 'month field "13": 13 is out of range 1-12'),
        ("* * * * 7", 'day-of-week field "7": 7 is not a day in KFP\'s cron: use 0 for Sunday'),
        ("x * * * *", 'minute field "x": "x" is not a number (0-59)'),
        ("* * * FOO *", 'month field "FOO": "FOO" is not a number (1-12 or JAN-DEC)'),
        ("5-1 * * * *", 'minute field "5-1": range 5-1 runs backwards'),
        ("*/0 * * * *", 'minute field "*/0": step "0" must be a whole number of at least 1'),
        (
            "? * * * *",
            'minute field "?": "?" is allowed only in the day-of-month and day-of-week fields',
        ),
        ("0 0 L * *", 'day-of-month field "L": "L" (L, W, #) is not supported'),
        ("1,,2 * * * *", 'minute field "1,,2": empty list item'),
        ("* * *", "3 fields; expected 5 (minute hour day-of-month month day-of-week"),
        ("@every 1h", "unknown macro"),
        ("", "empty cron expression"),
    ],
)
def test_bad_cron_says_which_field_and_why(expression, message):
    with pytest.raises(CronError) as error:
        parse_cron(expression)
    assert message in str(error.value)


def test_every_normalized_form_is_accepted_by_croniter():
    from croniter import croniter

    for text in (
        "0 3 * * *",
        "0 9,17 * * MON-FRI",
        "0 0 9 ? * 2-6",
        "*/10 9-17 * * *",
        "0 0 1,15 * *",
        "0 4 * JAN,JUL SUN",
        "5/20 * * * *",
    ):
        assert croniter.is_valid(parse_cron(text).kfp, second_at_beginning=True), text


def test_crontab_line_runs_one_locked_rebuild(tmp_path):
    line = crontab_line(
        parse_cron("0 3 * * *"),
        ["/venv/bin/t2i", "schedule", "--local", "--once", "--root", "/data/my runs"],
        "/data/my runs/logs/schedule.log",
        "/srv/t2i",
    )
    comment, entry = line.splitlines()
    assert comment.startswith("# t2i: rebuild the index at 03:00 every day")
    assert entry == (
        "0 3 * * * cd /srv/t2i && /venv/bin/t2i schedule --local --once --root "
        "'/data/my runs' >> '/data/my runs/logs/schedule.log' 2>&1"
    )
    with pytest.raises(CronError, match="crontab has no seconds field"):
        crontab_line(parse_cron("15 0 3 * * *"), ["t2i"], "log", "/")


def test_print_crontab_command(tmp_path):
    from click.testing import CliRunner

    from t2i.cli import main

    result = CliRunner().invoke(
        main,
        [
            "schedule",
            "--local",
            "--cron",
            "*/30 * * * *",
            "--print-crontab",
            "--root",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    entry = result.output.splitlines()[1]
    assert entry.startswith("*/30 * * * * cd ")
    assert f"schedule --local --once --root {tmp_path}" in entry
    assert entry.endswith(f">> {tmp_path}/logs/schedule.log 2>&1")
    bad = CliRunner().invoke(
        main, ["schedule", "--local", "--cron", "0 61 * * *", "--print-crontab"]
    )
    assert bad.exit_code == 2 and 'hour field "61": 61 is out of range 0-23' in bad.output


def test_lock_is_exclusive_and_released(tmp_path):
    path = str(tmp_path / "pipelines" / "p" / "rebuild.lock")
    first, second = RebuildLock(path), RebuildLock(path)
    assert first.try_acquire()
    assert not second.try_acquire()  # flock is per open file: a second open conflicts, too
    assert second.holder().describe().startswith(f"pid {os.getpid()} (`t2i test`) since ")
    first.release()
    assert second.try_acquire()
    second.release()


def test_ticks_run_the_job_and_log_one_line_each(tmp_path):
    calls, lines = [], []

    def job():
        calls.append(1)
        return True, f"rebuild number {len(calls)}"

    results = run_scheduler(
        EVERY_SECOND, job, str(tmp_path / "rebuild.lock"), lines.append, max_ticks=2
    )
    assert [r.status for r in results] == ["ok", "ok"]
    assert len(calls) == 2
    assert "scheduler: rebuild every second" in lines[0]
    assert re.search(r"tick 1: ok in \d+ s: rebuild number 1$", lines[1])
    assert re.search(r"tick 2: ok in \d+ s: rebuild number 2$", lines[2])


def test_a_tick_overlapping_another_rebuild_is_skipped(tmp_path):
    lock_file = str(tmp_path / "rebuild.lock")
    other = RebuildLock(lock_file)  # another scheduler's (or cron job's) rebuild
    assert other.try_acquire()
    ran, lines = [], []
    try:
        results = run_scheduler(
            EVERY_SECOND,
            lambda: ran.append(1) or (True, "ran"),
            lock_file,
            lines.append,
            max_ticks=1,
        )
    finally:
        other.release()
    assert not ran
    assert results[0].status == "skipped"
    assert f"tick 1: skipped: the pipeline root is in use by pid {os.getpid()} (" in lines[1]


def test_ticks_due_while_a_rebuild_runs_are_skipped_not_caught_up(tmp_path):
    import time

    lines = []

    def slow_job():
        time.sleep(2.5)  # spans at least two of the schedule's one-second ticks
        return True, "slow rebuild"

    results = run_scheduler(
        EVERY_SECOND, slow_job, str(tmp_path / "rebuild.lock"), lines.append, max_ticks=2
    )
    assert [r.status for r in results] == ["ok", "ok"]
    skipped = [line for line in lines if " skipped " in line]
    assert len(skipped) == 1
    assert "while tick 1 ran (no catch-up)" in skipped[0]


def test_a_failing_tick_does_not_stop_the_scheduler(tmp_path):
    outcomes = iter([RuntimeError("disk full\nmore detail"), (True, "fine")])

    def job():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    lines = []
    results = run_scheduler(
        EVERY_SECOND, job, str(tmp_path / "rebuild.lock"), lines.append, max_ticks=2
    )
    assert [r.status for r in results] == ["failed", "ok"]
    assert re.search(r"tick 1: failed in \d+ s: RuntimeError: disk full$", lines[1])


def test_once_from_another_process_skips_while_the_lock_is_held(tmp_path):
    config = Config()
    config.pipeline.root = str(tmp_path)
    lock = RebuildLock(Paths.from_config(config).lock_file)
    assert lock.try_acquire()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "t2i.cli",
                "schedule",
                "--local",
                "--once",
                "--root",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO_ROOT,
        )
    finally:
        lock.release()
    assert result.returncode == 0, result.stderr
    assert (
        f"tick 1: skipped: the pipeline root is in use by pid {os.getpid()} (`t2i test`)"
        in result.stdout
    )
    with open(tmp_path / "logs" / "schedule.log") as f:
        assert "tick 1: skipped" in f.read()


def test_lock_lives_under_the_pipeline_root():
    config = Config()
    config.pipeline.root = "/data/runs"
    assert Paths.from_config(config).lock_file == "/data/runs/t2i.lock"


# --- the real rebuild DAG, twice, on a fast schedule ----------------------------------------


@pytest.mark.slow
def test_local_scheduler_rebuilds_twice_and_embeds_only_the_new_span(tmp_path):
    from t2i import mlmd, sample_data, workflows

    data = tmp_path / "data"
    sample_data.generate(str(data), num_images=120, seed=3, spans=1, image_size=64)
    config = _small_config(tmp_path, data)
    log = io.StringIO()
    full = workflows.run(config, out=log, pipeline_kind="full")
    assert full.succeeded and full.pushed, log.getvalue()

    rebuild = rebuild_job(config, log)
    ticks = []

    def job():  # the real rebuild; a new span arrives between the two ticks
        if ticks:
            sample_data.add_span(str(data), 24, seed=4, image_size=64)
        ticks.append(1)
        return rebuild()

    lines = []
    results = run_scheduler(
        EVERY_SECOND, job, Paths.from_config(config).lock_file, lines.append, max_ticks=2
    )
    assert [r.status for r in results] == ["ok", "ok"], "\n".join(lines) + log.getvalue()
    assert results[0].detail.endswith("nothing new pushed")  # nothing had arrived
    assert re.search(r"pushed searcher version 2$", results[1].detail)

    store = mlmd.connect(config.pipeline.root)
    runs = [run.name for run in mlmd.pipeline_runs(store)]
    assert len(runs) == 3 and runs[0] == full.run_id
    for run in runs:
        states = {n.node_id: n.state for n in mlmd.run_executions(store, run)}
        assert "FAILED" not in states.values(), (run, states)
    from t2i.lineage import history

    # The quiet tick wrote no report and is flagged as a tick that pushed nothing.
    reports = os.path.join(config.pipeline.root, "reports")
    assert not os.path.exists(os.path.join(reports, f"{runs[1]}.html"))
    assert os.path.exists(os.path.join(reports, f"{runs[2]}.html"))
    assert [row["idle_ticks"] for row in history.run_rows(store)] == [0, 1, 0]
    before, quiet, after = (_figures(store, run) for run in runs)
    assert before == {"embedded_new": 120, "embeddings": 120, "index_items": 120}
    assert quiet == {}  # the first tick embedded and built nothing
    # The second tick embedded exactly the new images; the index covers all spans.
    assert after == {"embedded_new": 24, "embeddings": 144, "index_items": 144}


def test_consecutive_idle_ticks_are_one_row(tmp_path):
    """run_rows over a real (SQLite) ML Metadata store holding five runs, three of them
    consecutive scheduled ticks flagged as having pushed nothing."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from t2i import mlmd
    from t2i.lineage import history
    from t2i.summary import NOTHING_PUSHED_PROPERTY

    store = metadata_store.MetadataStore(mlmd.sqlite_connection_config(str(tmp_path)))
    run_type = store.put_context_type(metadata_store_pb2.ContextType(name=mlmd.RUN_CONTEXT))
    for name, idle in (("r1", 0), ("r2", 1), ("r3", 1), ("r4", 1), ("r5", 0), ("r6", 1)):
        context = metadata_store_pb2.Context(type_id=run_type, name=name)
        if idle:
            context.custom_properties[NOTHING_PUSHED_PROPERTY].int_value = 1
        store.put_contexts([context])
    rows = history.run_rows(mlmd.connect(str(tmp_path)))
    assert [(row["run"], row["idle_ticks"]) for row in rows] == [
        ("r1", 0),
        ("r4", 3),
        ("r5", 0),
        ("r6", 1),
    ]


def _small_config(tmp_path, data) -> Config:
    from t2i.configs import load_config

    return load_config(
        None,
        [
            f"pipeline.root={tmp_path / 'runs'}",
            f"data.data_dir={data}",
            f"pusher.serving_dir={tmp_path / 'serving'}",
            "trainer.epochs=1",
            "trainer.image_size=32",
            "trainer.image_tower=small_cnn",
            "trainer.text_tower=small_text",
            "trainer.image_width=8",
            "trainer.text_width=16",
            "trainer.text_heads=2",
            "trainer.embedding_dim=16",
            "trainer.batch_size=32",
            "evaluator.min_recall_at_10=0",
            "validator.min_recall_at_10=0",
            "searcher.scoring=brute_force",
        ],
    )


def _figures(store, run_id: str) -> dict:
    from t2i import mlmd

    figures = {}
    for node in mlmd.run_executions(store, run_id):
        if node.node_id == "ImageEmbedder" and node.outputs.get("embeddings"):
            props = mlmd.custom_properties(node.outputs["embeddings"][0])
            figures.update(embedded_new=props["embedded_new"], embeddings=props["count"])
        if node.node_id == "SearcherBuilder" and node.outputs.get("searcher"):
            figures["index_items"] = mlmd.custom_properties(node.outputs["searcher"][0])[
                "num_items"
            ]
    return figures
