"""ScaNN build and its conversion to the on-device format (TensorFlow process).

`build_scann` trains the partitioner and the asymmetric-hashing codebook with scann's
builder in the on-device-compatible shape (lut256 codes, residual quantization off,
no reordering; docs/SEARCHER_FORMAT.md §3), `on_device_parts` reads scann's serialization back
into a ScannOnDeviceConfig plus the per-item arrays the index file needs, and
`flat_parts` makes a one-partition float index without scann for tiny collections.
The search settings (leaves searched, lookup type) are applied later with
`with_search`, so trying several of them does not rebuild anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from tensorflow_lite_support.scann_ondevice.cc.core import serialized_searcher_pb2 as ondevice_pb2

from components.searcher_builder.plan import IndexPlan, search_fraction

_DISTANCE = {"dot_product": ondevice_pb2.DOT_PRODUCT, "squared_l2": ondevice_pb2.SQUARED_L2_DISTANCE}
_LOOKUP = {"int8": ondevice_pb2.AsymmetricHashingProto.INT8,
           "float": ondevice_pb2.AsymmetricHashingProto.FLOAT}


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
        paths = {"config": os.path.join(directory, "ondevice_config.pb"),
                 "partition": os.path.join(directory, "partition.npy")}
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


def with_search(config: ondevice_pb2.ScannOnDeviceConfig, leaves_to_search: int,
                lookup: str) -> ondevice_pb2.ScannOnDeviceConfig:
    """A copy of `config` that searches `leaves_to_search` leaves with that lookup."""
    out = ondevice_pb2.ScannOnDeviceConfig()
    out.CopyFrom(config)
    out.partitioner.search_fraction = search_fraction(leaves_to_search, len(out.partitioner.leaf))
    if out.HasField("indexer"):
        out.indexer.asymmetric_hashing.lookup_type = _LOOKUP[lookup]
    return out


def build_scann(vectors: np.ndarray, plan: IndexPlan, docids: list[str] | None = None,
                training_threads: int = 0):
    """A scann searcher with the plan's tree and scoring (plan.flat is not for scann)."""
    from scann.scann_ops.py import scann_ops_pybind

    builder = scann_ops_pybind.builder(vectors, 10, plan.distance)
    if not plan.flat:
        builder = builder.tree(
            num_leaves=plan.num_leaves,
            num_leaves_to_search=max(1, plan.num_leaves_to_search or 1),
            training_sample_size=plan.training_sample_size,
            min_partition_size=plan.min_partition_size)
    if plan.scoring == "ah":
        # residual_quantization=False: scann turns it on for tree + dot product and the
        # on-device scorer cannot read residual codes (recall collapses to ~0.12).
        builder = builder.score_ah(
            plan.dimensions_per_block,
            anisotropic_quantization_threshold=plan.anisotropic_quantization_threshold,
            training_sample_size=plan.training_sample_size,
            hash_type="lut256", residual_quantization=False)
    else:
        builder = builder.score_brute_force()
    return builder.set_n_training_threads(training_threads).build(docids=docids)


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
        _read(artifacts_dir, "serialized_partitioner.pb"))
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
            _read(artifacts_dir, "ah_codebook.pb"))
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
    return OnDeviceParts(config, np.zeros(len(vectors), np.int32), None,
                         np.ascontiguousarray(vectors, np.float32))


def _read(directory: str, name: str) -> bytes:
    with open(os.path.join(directory, name), "rb") as f:
        return f.read()
