"""How the embedding pipeline runs: the input's size, then the Beam execution mode.

On this machine a multi-processing DirectRunner pays 13-19 s of start-up per run (each
worker imports TensorFlow and loads the model; docs/STACK.md §4), so it only pays off for big
collections: below `multiprocessing_min_images` the DirectRunner runs in-process. A runner
or mode the user put in beam_pipeline_args is respected as given.

The size is estimated without reading the whole split: gzipped TFRecord files are
decompressed up to a byte budget and their records counted; the records-per-compressed-
byte rate of that sample scales to the rest. Small splits are counted exactly.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import asdict, dataclass

_SAMPLE_BUDGET_BYTES = 16 << 20
_CHUNK = 1 << 20
_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_DIRECT_RUNNERS = {"directrunner", "direct", "switchingdirectrunner", "bundlebaseddirectrunner"}
# Above this much input the local runner does not reshuffle images (see _rebalance).
REBALANCE_MAX_BYTES = 2 << 30


@dataclass(frozen=True)
class RecordCount:
    records: int
    exact: bool
    files: int
    bytes: int


def count_records(file_pattern: str, budget_bytes: int = _SAMPLE_BUDGET_BYTES) -> RecordCount:
    """Counts (or estimates) the records of gzipped TFRecord files matching the pattern."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    files = sorted(FileSystems.match([file_pattern])[0].metadata_list, key=lambda m: m.path)
    total_bytes = sum(m.size_in_bytes for m in files)
    counted = sampled_bytes = 0
    exact = True
    for meta in files:
        remaining = budget_bytes - sampled_bytes
        if remaining <= 0:
            exact = False
            break
        with FileSystems.open(meta.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            records, consumed, complete = _count_gzip_records(f, remaining)
        counted += records
        sampled_bytes += consumed
        if not complete:
            exact = False
            break
    if exact:
        return RecordCount(counted, True, len(files), total_bytes)
    rate = counted / max(sampled_bytes, 1)
    return RecordCount(round(rate * total_bytes), False, len(files), total_bytes)


def _count_gzip_records(f, budget: int) -> tuple[int, int, bool]:
    """(records whose header was seen, compressed bytes read, whole file read)."""
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    records = consumed = skip = 0
    header = b""
    while consumed < budget:
        chunk = f.read(min(_CHUNK, budget - consumed))
        if not chunk:
            return records, consumed, True
        consumed += len(chunk)
        data = decompressor.decompress(chunk)
        while decompressor.unused_data:  # concatenated gzip members
            rest = decompressor.unused_data
            decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
            data += decompressor.decompress(rest)
        pos = 0
        while pos < len(data):
            if skip:
                step = min(skip, len(data) - pos)
                pos += step
                skip -= step
                continue
            take = data[pos : pos + _HEADER - len(header)]
            header += take
            pos += len(take)
            if len(header) == _HEADER:
                (length,) = struct.unpack("<Q", header[:8])
                skip = length + 4  # the record and its CRC
                header = b""
                records += 1
    return records, consumed, not f.read(1)


@dataclass(frozen=True)
class ExecutionPlan:
    beam_args: list
    runner: str
    mode: str  # in_memory | multi_processing | multi_threading | distributed
    workers: int
    reshuffle: bool  # rebalance images across workers before inference
    reason: str
    # SDK worker processes sharing one worker host's cores (0 = one per core): each worker
    # gives TensorFlow cores / workers_per_host threads, so co-located workers do not fight.
    workers_per_host: int = 1

    def describe(self) -> dict:
        info = asdict(self)
        info.pop("beam_args")
        return info


def plan_execution(
    beam_args: list[str],
    count: RecordCount,
    *,
    num_workers: int = 0,
    multiprocessing_min_images: int = 100_000,
    cpu_count: int | None = None,
) -> ExecutionPlan:
    """Chooses the execution mode for an input of `count`; returns the Beam args to run
    with and why."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args = list(beam_args)
    options = PipelineOptions(args).get_all_options(retain_unknown_options=False)
    # What the user passed, even when it equals Beam's default (e.g. an explicit in_memory).
    given = {
        name: options[name]
        for name in ("runner", "direct_running_mode", "direct_num_workers")
        if any(arg == f"--{name}" or arg.startswith(f"--{name}=") for arg in args)
    }
    cores = cpu_count or len(os.sched_getaffinity(0))
    workers = num_workers if num_workers > 0 else cores
    runner = str(given.get("runner") or "DirectRunner")
    if runner.lower() not in _DIRECT_RUNNERS:
        # Gzip files cannot be split, so a distributed runner gets its parallelism from a
        # reshuffle of the parsed images (its shuffle service or disks hold them).
        return ExecutionPlan(
            args,
            runner,
            "distributed",
            0,
            True,
            f"runner {runner} from beam_pipeline_args",
            workers_per_host=_distributed_workers_per_host(runner, options),
        )
    mode = given.get("direct_running_mode")
    if mode:
        if mode != "in_memory" and not given.get("direct_num_workers"):
            args.append(f"--direct_num_workers={workers}")
        workers = int(given.get("direct_num_workers") or (1 if mode == "in_memory" else workers))
        rebalance, note = _rebalance(mode, workers, count)
        return ExecutionPlan(
            args,
            runner,
            mode,
            workers,
            rebalance,
            f"direct_running_mode={mode} from beam_pipeline_args{note}",
            workers_per_host=1 if mode == "in_memory" else workers,
        )
    if count.records < multiprocessing_min_images:
        return ExecutionPlan(
            args,
            runner,
            "in_memory",
            1,
            False,
            f"{count.records} images < multiprocessing_min_images="
            f"{multiprocessing_min_images}: multi-processing workers' start-up "
            f"(13-19 s per run here) would cost more than they gain",
        )
    if given.get("direct_num_workers"):
        workers = int(given["direct_num_workers"])
    if workers < 2:
        return ExecutionPlan(
            args,
            runner,
            "in_memory",
            1,
            False,
            f"{count.records} images, but only one worker "
            f"({cores} core(s), num_workers={num_workers})",
        )
    args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    rebalance, note = _rebalance("multi_processing", workers, count)
    return ExecutionPlan(
        args,
        runner,
        "multi_processing",
        workers,
        rebalance,
        f"{count.records} images >= multiprocessing_min_images="
        f"{multiprocessing_min_images}: {workers} worker processes{note}",
        workers_per_host=workers,
    )


def _distributed_workers_per_host(runner: str, options: dict) -> int:
    """SDK worker processes per worker host. Dataflow runner v2 starts one per vCPU unless
    the `no_use_multiple_sdk_containers` experiment is on; portable runners (Flink, Spark,
    a job service) start `--sdk_worker_parallelism` per environment (Beam's default 1;
    0 = Beam picks, taken as one per core)."""
    if runner.lower() in ("dataflowrunner", "dataflow"):
        experiments = options.get("experiments") or []
        return 1 if "no_use_multiple_sdk_containers" in experiments else 0
    return int(options.get("sdk_worker_parallelism") or 0)


def _rebalance(mode: str, workers: int, count: RecordCount) -> tuple[bool, str]:
    """Whether to reshuffle the images across local workers, and a note when not.

    The DirectRunner holds a reshuffled PCollection in its own memory, images and all.
    Up to REBALANCE_MAX_BYTES that buys an even spread over the workers; beyond it the
    workers take whole input files instead (gzip files cannot be split).
    """
    if mode == "in_memory" or workers < 2:
        return False, ""
    if count.bytes <= REBALANCE_MAX_BYTES:
        return True, ""
    note = (
        f"; input of {count.bytes / 2**30:.1f} GiB > {REBALANCE_MAX_BYTES / 2**30:.0f} GiB: "
        "not reshuffled in memory, workers take whole files"
    )
    if count.files < workers:
        note += f" (only {count.files} file(s): at most {count.files} worker(s) busy)"
    return False, note
