"""StatisticsGen's memory against the collection's size: TFDV's GenerateStatistics (what
StatisticsGen runs) over records shaped like CocoExampleGen's (a 167 KB encoded image,
file name, five captions), with the image feature's `image_domain` in the schema and
without it. Each measurement is a fresh process; peak RSS is the kernel's high-water mark.

    .venv/bin/python -m bench.statistics_memory_bench --sizes 500,1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(REPO, "t2i", "schema", "schema.pbtxt")
IMAGE_BYTES = 167_000  # the scale bench's photo-like JPEGs average 167 KB

WRITE = """
import sys, numpy as np, tensorflow as tf
n, out, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
def feature(values, kind):
    return tf.train.Feature(**{kind: {"int64_list": tf.train.Int64List, "bytes_list": tf.train.BytesList}[kind](value=values)})
with tf.io.TFRecordWriter(out) as writer:
    for i in range(n):
        features = {
            "image_id": feature([i], "int64_list"),
            "image": feature([rng.bytes(size)], "bytes_list"),
            "file_name": feature([f"train2017/{i:012d}.jpg".encode()], "bytes_list"),
            "captions": feature([b"a red circle left of a blue square"] * 5, "bytes_list"),
        }
        writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
"""

MEASURE = """
import json, resource, sys, time
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
path, schema_file, with_domain = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
schema = text_format.Parse(open(schema_file).read(), schema_pb2.Schema())
for feature in schema.feature:
    if feature.name == "image" and not with_domain:
        feature.ClearField("image_domain")
started = time.perf_counter()
tfdv.generate_statistics_from_tfrecord(path, stats_options=tfdv.StatsOptions(schema=schema))
print(json.dumps({"seconds": round(time.perf_counter() - started, 1),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000")
    parser.add_argument("--output")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="stats-memory-") as work:
        for n in (int(size) for size in args.sizes.split(",")):
            records = os.path.join(work, f"examples-{n}.tfrecord")
            subprocess.run(
                [sys.executable, "-c", WRITE, str(n), records, str(IMAGE_BYTES)], check=True
            )
            for with_domain in (False, True):
                result = subprocess.run(
                    [sys.executable, "-c", MEASURE, records, SCHEMA, "1" if with_domain else "0"],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                row = {"records": n, "image_domain": with_domain, **json.loads(result.stdout)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"rows": rows, "load_average": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
