"""ScaNN build and its conversion to the on-device format (TensorFlow process).

`build_tree` trains the k-means partitioner and `build_codebook` the asymmetric-hashing
codebook, each with scann's builder in the on-device-compatible shape (lut256 codes,
residual quantization off, no reordering; docs/SEARCHER_FORMAT.md §3); `combine` joins one of
each into a scann index directory; `on_device_parts` reads scann's serialization back
into a ScannOnDeviceConfig plus the per-item arrays the index file needs, and
`flat_parts` makes a one-partition float index without scann for tiny collections.
The search settings (leaves searched, lookup type) are applied later with
`with_search`, so trying several of them does not rebuild anything.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import numpy as np
from tensorflow_lite_support.scann_ondevice.cc.core import serialized_searcher_pb2 as ondevice_pb2

from components.searcher_builder.plan import IndexPlan, search_fraction

_DISTANCE = {
    "dot_product": ondevice_pb2.DOT_PRODUCT,
    "squared_l2": ondevice_pb2.SQUARED_L2_DISTANCE,
}
_LOOKUP = {
    "int8": ondevice_pb2.AsymmetricHashingProto.INT8,
    "float": ondevice_pb2.AsymmetricHashingProto.FLOAT,
}


@dataclass
class OnDeviceParts:
    """What the TF-free index writer needs (one row per item, input order)."""

    config: ondevice_pb2.ScannOnDeviceConfig
    partition: np.ndarray  # int32 [N], the leaf of each item
    codes: np.ndarray | None  # uint8 [N, num_blocks] (asymmetric hashing)
    floats: np.ndarray | None  # float32 [N, D] (brute force)

    def save(self, directory: str) -> dict:
        """Writes the parts as files; returns the paths (a JSON-able request fragment)."""
        os.makedirs(directory, exist_ok=True)
        paths = {
            "config": os.path.join(directory, "ondevice_config.pb"),
            "partition": os.path.join(directory, "partition.npy"),
        }
        with open(paths["config"], "wb") as f:
            f.write(self.config.SerializeToString())
        np.save(paths["partition"], self.partition.astype(np.int32))
        if self.codes is not None:
            paths["codes"] = os.path.join(directory, "codes.npy")
            np.save(paths["codes"], self.codes.astype(np.uint8))
        if self.floats is not None:
            paths["floats"] = os.path.join(directory, "floats.npy")
            np.save(paths["floats"], self.floats.astype(np.float32))
        return paths


def with_search(
    config: ondevice_pb2.ScannOnDeviceConfig, leaves_to_search: int, lookup: str
) -> ondevice_pb2.ScannOnDeviceConfig:
    """A copy of `config` that searches `leaves_to_search` leaves with that lookup."""
    out = ondevice_pb2.ScannOnDeviceConfig()
    out.CopyFrom(config)
    out.partitioner.search_fraction = search_fraction(leaves_to_search, len(out.partitioner.leaf))
    if out.HasField("indexer"):
        out.indexer.asymmetric_hashing.lookup_type = _LOOKUP[lookup]
    return out


def build_tree(
    vectors: np.ndarray,
    plan: IndexPlan,
    directory: str,
    docids: list[str] | None = None,
    training_threads: int = 0,
) -> None:
    """Trains the plan's k-means partitioner (scann tree + brute force scoring, which
    trains nothing more) and serializes it into `directory`: seconds, even at 123k."""
    from scann.scann_ops.py import scann_ops_pybind

    builder = (
        scann_ops_pybind.builder(vectors, 10, plan.distance)
        .tree(
            num_leaves=plan.num_leaves,
            num_leaves_to_search=max(1, plan.num_leaves_to_search or 1),
            training_sample_size=plan.tree_sample_size,
            min_partition_size=plan.min_partition_size,
            training_iterations=plan.kmeans_iterations,
            spherical=plan.spherical,
        )
        .score_brute_force()
    )
    # Leaf-size balancing (partitioning.balancing_type GREEDY_BALANCED) would be the
    # setting against outsized leaves, but scann 1.3.2 aborts with a double free when
    # training with it, and max_cluster_size has no effect on a one-level tree.
    config = _scann_config(builder.create_config())
    _serialize(vectors, config, directory, docids, training_threads)


def build_codebook(
    vectors: np.ndarray, plan: IndexPlan, directory: str, training_threads: int = 0
) -> None:
    """Trains the asymmetric-hashing codebook and encodes every item, without a tree.

    With residual quantization off (the on-device scorer cannot read residual codes;
    left on, recall collapses to ~0.12) an item's code does not depend on its leaf, so
    one codebook serves every tree: the expensive part of a build (about 95% of it at
    123k items) is done once per codebook setting, not once per number of leaves."""
    from scann.scann_ops.py import scann_ops_pybind

    builder = scann_ops_pybind.builder(vectors, 10, plan.distance)
    if plan.scoring == "ah":
        builder = builder.score_ah(
            plan.dimensions_per_block,
            anisotropic_quantization_threshold=plan.anisotropic_quantization_threshold,
            training_sample_size=plan.training_sample_size,
            hash_type="lut256",
            residual_quantization=False,
        )
    else:
        builder = builder.score_brute_force()
    _serialize(vectors, _scann_config(builder.create_config()), directory, None, training_threads)


def combine(tree_dir: str, codebook_dir: str, out_dir: str) -> None:
    """A scann index directory with `tree_dir`'s partitioner and leaf assignments and
    `codebook_dir`'s scoring (codebook and codes, or float vectors): what one tree + AH
    build would have written, loadable by scann (server_index.py) and extendable
    (incremental.py)."""
    from scann.proto import scann_pb2

    tree = scann_pb2.ScannConfig.FromString(_read(tree_dir, "scann_config.pb"))
    scoring = scann_pb2.ScannConfig.FromString(_read(codebook_dir, "scann_config.pb"))
    config = scann_pb2.ScannConfig()
    config.CopyFrom(scoring)
    config.partitioning.CopyFrom(tree.partitioning)
    os.makedirs(out_dir, exist_ok=True)
    files = {
        "serialized_partitioner.pb": ("PARTITIONER", tree_dir),
        "datapoint_to_token.npy": ("TOKENIZATION_NPY", tree_dir),
    }
    if scoring.HasField("hash"):
        files.update(
            {
                "ah_codebook.pb": ("AH_CENTERS", codebook_dir),
                "hashed_dataset.npy": ("AH_DATASET_NPY", codebook_dir),
            }
        )
    else:
        files["dataset.npy"] = ("DATASET_NPY", codebook_dir)
    if os.path.exists(os.path.join(tree_dir, "scann_docids.pkl")):
        files["scann_docids.pkl"] = (None, tree_dir)
    assets = []
    for name, (asset_type, source) in files.items():
        shutil.copyfile(os.path.join(source, name), os.path.join(out_dir, name))
        if asset_type:
            assets.append(
                f"assets {{\n  asset_type: {asset_type}\n  "
                f'asset_path: "{os.path.join(out_dir, name)}"\n}}\n'
            )
    with open(os.path.join(out_dir, "scann_config.pb"), "wb") as f:
        f.write(config.SerializeToString())
    with open(os.path.join(out_dir, "scann_assets.pbtxt"), "w") as f:
        f.write("".join(assets))


def _scann_config(text: str):
    from google.protobuf import text_format
    from scann.proto import scann_pb2

    return text_format.Parse(text, scann_pb2.ScannConfig())


def _serialize(
    vectors: np.ndarray, config, directory: str, docids: list[str] | None, training_threads: int
) -> None:
    from google.protobuf import text_format
    from scann.scann_ops.py import scann_ops_pybind

    searcher = scann_ops_pybind.create_searcher(
        vectors, text_format.MessageToString(config), training_threads, docids=docids
    )
    os.makedirs(directory, exist_ok=True)
    searcher.serialize(directory)


def on_device_parts(artifacts_dir: str, plan: IndexPlan) -> OnDeviceParts:
    """scann's serialization (scann_config.pb, serialized_partitioner.pb, ah_codebook.pb,
    datapoint_to_token.npy, hashed_dataset.npy | dataset.npy) -> on-device parts."""
    from scann.partitioning import partitioner_pb2
    from scann.proto import centers_pb2, scann_pb2

    scann_config = scann_pb2.ScannConfig.FromString(_read(artifacts_dir, "scann_config.pb"))
    if scann_config.HasField("exact_reordering"):
        raise ValueError(f"{artifacts_dir}: exact reordering has no on-device equivalent")
    distance = _DISTANCE[plan.distance]
    config = ondevice_pb2.ScannOnDeviceConfig(query_distance=distance)

    partitioner = partitioner_pb2.SerializedPartitioner.FromString(
        _read(artifacts_dir, "serialized_partitioner.pb")
    )
    root = partitioner.kmeans.kmeans_tree.root
    config.partitioner.query_distance = distance
    for i, (center, child) in enumerate(zip(root.centers, root.children)):
        if child.leaf_id != i:
            raise ValueError(f"{artifacts_dir}: k-means leaf {i} has id {child.leaf_id}")
        config.partitioner.leaf.add().dimension.extend(center.dimension)
    partition = np.load(os.path.join(artifacts_dir, "datapoint_to_token.npy")).astype(np.int32)
    if len(config.partitioner.leaf) == 0:  # scann skips the tree for a single leaf
        config.partitioner.leaf.add().dimension.extend(np.zeros(plan.embedding_dim).tolist())
        partition = np.zeros(plan.num_items, np.int32)

    codes = floats = None
    if scann_config.HasField("hash"):
        codebook = centers_pb2.CentersForAllSubspaces.FromString(
            _read(artifacts_dir, "ah_codebook.pb")
        )
        indexer = config.indexer.asymmetric_hashing
        indexer.query_distance = distance
        indexer.lookup_type = _LOOKUP["int8"]
        for subspace in codebook.subspace_centers:
            entries = indexer.subspace.add()
            for center in subspace.center:
                values = center.feature_value_float or center.feature_value_double
                entries.entry.add().dimension.extend(values)
        codes = np.load(os.path.join(artifacts_dir, "hashed_dataset.npy")).astype(np.uint8)
    else:
        floats = np.load(os.path.join(artifacts_dir, "dataset.npy")).astype(np.float32)
    leaves = max(1, plan.num_leaves_to_search or 1)
    return OnDeviceParts(with_search(config, leaves, "int8"), partition, codes, floats)


def flat_parts(vectors: np.ndarray, plan: IndexPlan) -> OnDeviceParts:
    """One partition holding every item as float32: exact search, no training needed."""
    distance = _DISTANCE[plan.distance]
    config = ondevice_pb2.ScannOnDeviceConfig(query_distance=distance)
    config.partitioner.query_distance = distance
    config.partitioner.leaf.add().dimension.extend(vectors.mean(axis=0).astype(float).tolist())
    config.partitioner.search_fraction = 1.0
    return OnDeviceParts(
        config, np.zeros(len(vectors), np.int32), None, np.ascontiguousarray(vectors, np.float32)
    )


def _read(directory: str, name: str) -> bytes:
    with open(os.path.join(directory, name), "rb") as f:
        return f.read()
