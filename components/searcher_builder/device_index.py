"""TF-free half of the searcher build: index file, auto-tuning on the real Task Library
searcher, and the index attached to both encoders.

Run as `python -m components.searcher_builder.device_index` with a JSON request on stdin
(components.common.tf_free.run_module); the TF process (work.py) has already trained
ScaNN and saved the on-device parts (scann_index.OnDeviceParts.save).
"""

from __future__ import annotations

from components.common.tf_free import block_tensorflow

block_tensorflow()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402
from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb  # noqa: E402
from tensorflow_lite_support.metadata.python import metadata as tflite_metadata  # noqa: E402
from tensorflow_lite_support.scann_ondevice.cc.core import serialized_searcher_pb2 as ondevice_pb2  # noqa: E402
from tensorflow_lite_support.scann_ondevice.cc.python import index_builder  # noqa: E402

from components.common import device_search, recall  # noqa: E402
from components.searcher_builder import tuning  # noqa: E402
from components.searcher_builder.scann_index import with_search  # noqa: E402
from components.common.tflite_metadata import text_model_with_metadata  # noqa: E402

LATENCY_ROUNDS = 3


class Parts:
    """The on-device parts saved by the TF process, loaded once."""

    def __init__(self, paths: dict, metadata_path: str):
        with open(paths["config"], "rb") as f:
            self.config = ondevice_pb2.ScannOnDeviceConfig.FromString(f.read())
        self.partition = np.load(paths["partition"]).astype(np.int32)
        self.codes = np.load(paths["codes"]) if "codes" in paths else None
        self.floats = np.load(paths["floats"]) if "floats" in paths else None
        self.metadata = [bytes(m) for m in np.load(metadata_path, allow_pickle=True)]
        self.row_of = {m: row for row, m in enumerate(self.metadata)}

    def index_bytes(self, leaves_to_search: int, lookup: str, userinfo: dict) -> bytes:
        config = with_search(self.config, leaves_to_search, lookup)
        # USER_INFO is plain text (TextSearcher.get_user_info()); JSON of what built it.
        info = json.dumps(dict(userinfo, leaves_to_search=leaves_to_search, lookup=lookup))
        if self.codes is not None:
            dim, kwargs = self.codes.shape[1], {"hashed_database": self.codes.reshape(-1)}
        else:
            dim, kwargs = self.floats.shape[1], {"float_database": self.floats.reshape(-1)}
        return index_builder.create_serialized_index_file(
            dim,
            config.SerializeToString(),
            info,
            self.partition,
            self.metadata,
            compression=True,
            **kwargs,
        )


def attach_index(model: bytes, index: bytes) -> bytes:
    """The model with the index packed as a SCANN_INDEX_FILE on output 0 (the embedding
    the Task Library searches with); existing metadata and packed files are kept."""
    buffer = tflite_metadata.get_metadata_buffer(model)
    if buffer is None:
        raise ValueError("the encoder has no TFLite metadata; export it with TextEncoderExporter")
    metadata = metadata_fb.ModelMetadataT.InitFromObj(
        metadata_fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0)
    )
    output = metadata.subgraphMetadata[0].outputTensorMetadata[0]
    index_file = metadata_fb.AssociatedFileT()
    index_file.name = device_search.INDEX_FILE_NAME
    index_file.description = "On-device ScaNN index (LevelDB) with item metadata."
    index_file.type = metadata_fb.AssociatedFileType.SCANN_INDEX_FILE
    output.associatedFiles = [
        f
        for f in (output.associatedFiles or [])
        if f.type != metadata_fb.AssociatedFileType.SCANN_INDEX_FILE
    ]
    output.associatedFiles.append(index_file)
    builder = flatbuffers.Builder(0)
    builder.Finish(
        metadata.Pack(builder), tflite_metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER
    )
    populator = tflite_metadata.MetadataPopulator.with_model_buffer(model)
    populator.load_metadata_buffer(builder.Output())
    populator.load_associated_file_buffers({device_search.INDEX_FILE_NAME: index})
    populator.populate()
    return bytes(populator.get_model_buffer())


@dataclass
class TuningQueries:
    """What the evaluator runs: a text model the Task Library loads, query texts, and the
    exact answers (rows) for each."""

    model_path: str
    texts: list[str]
    truth: list[list[int]]
    source: str


def lookup_queries(tuning_request: dict, delimiter: str, work_dir: str) -> TuningQueries:
    """Vectors chosen by the TF process, fed through the lookup encoder (query_encoder.py)."""
    model_path = os.path.join(work_dir, "lookup_encoder.tflite")
    with open(tuning_request["model"], "rb") as f:
        general = {
            "name": "tuning queries",
            "version": "0",
            "author": "t2i-searcher",
            "description": "Maps the query q<i> to tuning vector i.",
        }
        model = text_model_with_metadata(f.read(), tuning_request["vocab"], delimiter, general)
    with open(model_path, "wb") as f:
        f.write(model)
    return TuningQueries(
        model_path,
        tuning_request["texts"],
        tuning_request["truth"],
        tuning_request.get("source", "query vectors"),
    )


def caption_queries(tuning_request: dict, text_encoder: str) -> TuningQueries:
    """Real captions, embedded by TextEmbedder on the text encoder (device tokenization),
    answered exactly over the item vectors; captions the device would refuse are skipped.
    Every trial's search runs the text encoder again: the builder embeds its captions
    once instead (embed_captions) and tunes with lookup queries."""
    texts, queries = device_caption_embeddings(tuning_request["captions"], text_encoder)
    vectors = np.load(tuning_request["vectors"])
    truth = recall.exact_truth(queries, vectors, tuning_request["distance"], tuning_request["k"])
    return TuningQueries(text_encoder, texts, truth, "captions")


def device_caption_embeddings(captions: list[str], text_encoder: str) -> tuple[list, np.ndarray]:
    """(the captions the device accepts, their TextEmbedder embeddings)."""
    check = device_search.query_check(text_encoder)
    texts = []
    for caption in captions:
        try:
            check(caption)
            texts.append(caption)
        except device_search.QueryError:
            pass
    if not texts:
        raise ValueError("no usable tuning caption (all empty or made of unknown words)")
    embedder = device_search.open_text_embedder(text_encoder)
    with device_search.native_stderr_silenced():
        return texts, np.stack([device_search.embedding_of(embedder.embed(t)) for t in texts])


def embed_captions(request: dict) -> dict:
    """Tuning captions through the real TextEmbedder, once: embeddings saved to `out`."""
    texts, queries = device_caption_embeddings(request["captions"], request["text_encoder"])
    np.save(request["out"], queries)
    return {"texts": texts}


class CandidateEvaluator:
    """Recall@k and latency of one (leaves, lookup) setting: TextSearcher on the query
    model with the candidate index as an external index file.

    Latency: each query's search call is timed by the calling thread's CPU clock (the
    Task Library searches in the calling thread) and by the wall clock, over `rounds`
    passes; a setting's p50 is the lowest of its passes' medians. On a shared machine a
    query's wall time includes however long other processes held the core; its CPU time
    is what it costs, and on an idle device what it takes. p50_ms is the CPU figure (the
    tuner compares those), wall_p50_ms the wall clock's."""

    def __init__(
        self,
        parts: Parts,
        queries: TuningQueries,
        k: int,
        work_dir: str,
        userinfo: dict,
        rounds: int = LATENCY_ROUNDS,
    ):
        self.parts, self.queries, self.k, self.userinfo = parts, queries, k, userinfo
        self.index_path = os.path.join(work_dir, "candidate_index.ldb")
        self.rounds = rounds

    def __call__(self, leaves: int, lookup: str) -> tuning.Trial:
        with open(self.index_path, "wb") as f:
            f.write(self.parts.index_bytes(leaves, lookup, self.userinfo))
        searcher = device_search.open_text_searcher(
            self.queries.model_path, max_results=self.k, index_file=self.index_path
        )
        texts = self.queries.texts
        cpu_passes, wall_passes = [], []
        with device_search.native_stderr_silenced():
            searcher.search(texts[0])  # warm-up, not timed
            for _ in range(self.rounds):
                results, cpu, wall = timed_searches(searcher, texts)
                cpu_passes.append(cpu)
                wall_passes.append(wall)
        best_cpu = min(cpu_passes, key=lambda m: device_search.percentile_ms(m, 50))
        best_wall = min(wall_passes, key=lambda m: device_search.percentile_ms(m, 50))
        found = [[self.parts.row_of.get(hit.metadata, -1) for hit in hits] for hits in results]
        recalls = recall.per_query_recall(found, self.queries.truth, self.k)
        return tuning.Trial(
            leaves,
            lookup,
            round(float(np.mean(recalls)), 4),
            round(recall.stderr(recalls), 4),
            round(device_search.percentile_ms(best_cpu, 50), 4),
            round(device_search.percentile_ms(best_cpu, 95), 4),
            round(device_search.percentile_ms(best_wall, 50), 4),
            round(device_search.percentile_ms(best_wall, 95), 4),
        )


def timed_searches(searcher, texts: list[str]) -> tuple[list, list[float], list[float]]:
    """Hits of each query, and each search call's CPU and wall milliseconds."""
    results, cpu, wall = [], [], []
    for text in texts:
        cpu_start, wall_start = time.thread_time(), time.perf_counter()
        results.append(device_search.search_text(searcher, text))
        wall.append((time.perf_counter() - wall_start) * 1000.0)
        cpu.append((time.thread_time() - cpu_start) * 1000.0)
    return results, cpu, wall


def prepare_queries(request: dict, work_dir: str) -> TuningQueries:
    if request["tuning"].get("captions"):
        return caption_queries(request["tuning"], request["text_encoder"])
    return lookup_queries(request["tuning"], request["delimiter"], work_dir)


def smoke_check(searcher_path: str, image_searcher_path: str, parts: Parts) -> dict:
    """Both outputs load in the Task Library and return items of this index."""
    word = device_search.sample_query(searcher_path)
    text_hits = device_search.search_text(device_search.open_text_searcher(searcher_path), word)
    gray = np.full((32, 32, 3), 128, np.uint8)
    image_hits = device_search.search_image(
        device_search.open_image_searcher(image_searcher_path), gray
    )
    for name, hits in (("searcher", text_hits), ("image searcher", image_hits)):
        if not hits or any(hit.metadata not in parts.row_of for hit in hits):
            raise RuntimeError(f"{name}: the Task Library returned no hits or unknown items")
    return {"text_query": word, "text_hits": len(text_hits), "image_hits": len(image_hits)}


def evaluate_settings(parts: Parts, request: dict) -> dict:
    """Recall, latency and index size of each listed (leaves, lookup): the benchmark's
    measurement, with the tuner's own evaluator."""
    out = []
    with tempfile.TemporaryDirectory(prefix="t2i-eval-") as work_dir:
        evaluate = CandidateEvaluator(
            parts,
            prepare_queries(request, work_dir),
            request["tuning"]["k"],
            work_dir,
            request["userinfo"],
        )
        for leaves, lookup in request["evaluate"]:
            trial = evaluate(leaves, lookup)
            size = len(parts.index_bytes(leaves, lookup, request["userinfo"]))
            out.append(dict(trial.to_dict(), index_bytes=size))
    return {"trials": out}


def compare_latency(request: dict) -> dict:
    """p50 CPU and wall milliseconds of several (parts, leaves, lookup) candidates measured
    interleaved: every round times each candidate's queries in turn, and a candidate's
    p50 is the median of its rounds' medians, so a burst of load on a shared machine
    hits all candidates alike instead of deciding between them."""
    with tempfile.TemporaryDirectory(prefix="t2i-compare-") as work_dir:
        queries = prepare_queries(request, work_dir)
        searchers = []
        for i, candidate in enumerate(request["compare"]):
            parts = Parts(candidate["parts"], request["metadata"])
            path = os.path.join(work_dir, f"candidate-{i}.ldb")
            with open(path, "wb") as f:
                f.write(
                    parts.index_bytes(
                        candidate["leaves_to_search"], candidate["lookup"], request["userinfo"]
                    )
                )
            del parts
            searchers.append(
                device_search.open_text_searcher(
                    queries.model_path, max_results=request["tuning"]["k"], index_file=path
                )
            )
        cpu_medians = [[] for _ in searchers]
        wall_medians = [[] for _ in searchers]
        with device_search.native_stderr_silenced():
            for searcher in searchers:
                searcher.search(queries.texts[0])  # warm-up
            for _ in range(request.get("rounds", 2 * LATENCY_ROUNDS)):
                for i, searcher in enumerate(searchers):
                    _, cpu, wall = timed_searches(searcher, queries.texts)
                    cpu_medians[i].append(device_search.percentile_ms(cpu, 50))
                    wall_medians[i].append(device_search.percentile_ms(wall, 50))
    return {
        "p50_ms": [round(float(np.median(m)), 4) for m in cpu_medians],
        "wall_p50_ms": [round(float(np.median(m)), 4) for m in wall_medians],
    }


def index_sizes(request: dict) -> dict:
    """Index bytes of the same parts with each metadata variant {name: metadata .npy}: what
    the codes, the LevelDB keys and the item metadata each cost."""
    sizes = {}
    for name, metadata_path in request["index_sizes"].items():
        parts = Parts(request["parts"], metadata_path)
        sizes[name] = len(parts.index_bytes(1, "int8", request["userinfo"]))
    return {"index_bytes": sizes}


def run(request: dict) -> dict:
    if request.get("embed_captions"):
        return embed_captions(request["embed_captions"])
    if request.get("compare"):
        return compare_latency(request)
    if request.get("index_sizes"):
        return index_sizes(request)
    parts = Parts(request["parts"], request["metadata"])
    if request.get("evaluate"):
        return evaluate_settings(parts, request)
    userinfo = request["userinfo"]
    leaves, lookup = request["leaves_to_search"], request["lookup"]
    tuning_reply = None
    if request.get("tuning"):
        with tempfile.TemporaryDirectory(prefix="t2i-tune-") as work_dir:
            queries = prepare_queries(request, work_dir)
            evaluate = CandidateEvaluator(
                parts, queries, request["tuning"]["k"], work_dir, userinfo
            )
            start = request["tuning"].get("start")
            result = tuning.tune(
                evaluate,
                request["num_leaves"],
                request["tuning"]["lookups"],
                request["tuning"]["target"],
                fixed_leaves=leaves,
                start=tuple(start) if start else None,
            )
        leaves, lookup = result.chosen.leaves_to_search, result.chosen.lookup
        tuning_reply = dict(
            result.to_dict(),
            query_source=queries.source,
            num_queries=len(queries.texts),
            started_from=start,
        )
        if request.get("tune_only"):  # a build-search candidate: no outputs written
            return {"leaves_to_search": leaves, "lookup": lookup, "tuning": tuning_reply}
    index = parts.index_bytes(leaves, lookup, userinfo)
    sizes = {"index_bytes": len(index)}
    for source, target in (
        ("text_encoder", "searcher_out"),
        ("image_encoder", "image_searcher_out"),
    ):
        with open(request[source], "rb") as f:
            model = attach_index(f.read(), index)
        with open(request[target], "wb") as f:
            f.write(model)
        sizes[target.replace("_out", "_bytes")] = len(model)
    smoke = smoke_check(request["searcher_out"], request["image_searcher_out"], parts)
    return {
        "leaves_to_search": leaves,
        "lookup": lookup,
        "tuning": tuning_reply,
        "smoke": smoke,
        **sizes,
    }


def main() -> None:
    if "--session" in sys.argv:  # tf_free.Session: one JSON request per line
        for line in sys.stdin:
            print(json.dumps(run(json.loads(line))), flush=True)
        return
    print(json.dumps(run(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
