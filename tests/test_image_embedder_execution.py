"""ImageEmbedder's size estimate and execution-mode choice (no pipelines run here)."""

import os

import tensorflow as tf

from components.image_embedder.execution_plan import (
    REBALANCE_MAX_BYTES,
    RecordCount,
    count_records,
    plan_execution,
)


def write_records(path, sizes):
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i, size in enumerate(sizes):
            writer.write(os.urandom(size) if i % 2 else b"x" * size)


def test_small_inputs_are_counted_exactly(tmp_path):
    write_records(str(tmp_path / "a.gz"), [10, 5000, 0, 70000])
    write_records(str(tmp_path / "b.gz"), [1] * 123)
    count = count_records(str(tmp_path / "*.gz"))
    assert (count.records, count.exact, count.files) == (127, True, 2)


def test_large_inputs_are_estimated_from_a_sample(tmp_path):
    for shard in range(4):
        write_records(str(tmp_path / f"part-{shard}.gz"), [3000] * 500)
    count = count_records(str(tmp_path / "*.gz"), budget_bytes=200_000)
    assert not count.exact
    assert 1600 <= count.records <= 2400  # the truth is 2000


def test_no_files_counts_zero(tmp_path):
    assert count_records(str(tmp_path / "*.gz")).records == 0


def images(n, files=1, size=None):
    return RecordCount(n, True, files, n * 5000 if size is None else size)


def test_small_collections_run_in_process():
    plan = plan_execution([], images(5000), multiprocessing_min_images=100_000, cpu_count=2)
    assert (plan.mode, plan.workers, plan.reshuffle, plan.beam_args) == ("in_memory", 1, False, [])
    assert "5000 images < multiprocessing_min_images=100000" in plan.reason


def test_large_collections_get_one_worker_per_core_or_as_configured():
    plan = plan_execution(["--temp_location=/x"], images(200_000), cpu_count=2)
    assert (plan.mode, plan.workers, plan.reshuffle) == ("multi_processing", 2, True)
    assert plan.beam_args == [
        "--temp_location=/x",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    plan = plan_execution([], images(200_000), num_workers=3, cpu_count=2)
    assert plan.workers == 3 and "--direct_num_workers=3" in plan.beam_args


def test_one_core_stays_in_process():
    plan = plan_execution([], images(10**6), cpu_count=1)
    assert plan.mode == "in_memory" and "only one worker" in plan.reason


def test_a_mode_or_runner_in_beam_args_is_respected():
    plan = plan_execution(["--direct_running_mode=in_memory"], images(10**6), cpu_count=2)
    assert (plan.mode, plan.beam_args) == ("in_memory", ["--direct_running_mode=in_memory"])
    assert "from beam_pipeline_args" in plan.reason
    plan = plan_execution(
        ["--direct_running_mode=multi_processing", "--direct_num_workers=4"],
        images(10),
        cpu_count=2,
    )
    assert (plan.mode, plan.workers) == ("multi_processing", 4)
    plan = plan_execution(["--runner=DataflowRunner", "--project=p"], images(10), cpu_count=2)
    assert (plan.mode, plan.runner, plan.reshuffle) == ("distributed", "DataflowRunner", True)
    assert plan.beam_args == ["--runner=DataflowRunner", "--project=p"]


def test_inputs_too_big_to_reshuffle_in_memory_are_spread_by_file():
    big = REBALANCE_MAX_BYTES + 1
    plan = plan_execution([], images(200_000, files=8, size=big), cpu_count=2)
    assert (plan.mode, plan.reshuffle) == ("multi_processing", False)
    assert "workers take whole files" in plan.reason and "busy" not in plan.reason
    plan = plan_execution([], images(200_000, files=1, size=big), cpu_count=2)
    assert "only 1 file(s): at most 1 worker(s) busy" in plan.reason
