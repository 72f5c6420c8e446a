"""Latency of `t2i serve`'s `/api/search` with the server warm.

Starts the real `t2i serve` process on a pipeline root, sends warm-up queries (the first
request of a version opens its searcher and reads its collection's annotations), then
times `--queries` requests one after another from one HTTP client (requests, keep-alive)
with captions of the collection as queries. Reports the client-side round trip (p50, p95)
and the Task Library's own search time the server measured.

    PYTHONPATH=$PWD .venv/bin/python -m bench.serve_bench --root runs --queries 300
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import requests

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: str, port: int) -> subprocess.Popen:
    t2i = os.path.join(os.path.dirname(sys.executable), "t2i")
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    process = subprocess.Popen(
        [t2i, "serve", "--root", root, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/versions", timeout=30).ok:
                return process
        except requests.RequestException:  # not up yet, or slow to answer on a busy machine
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"t2i serve exited: {process.stderr.read().decode()[-2000:]}")
    process.kill()
    raise RuntimeError("t2i serve did not answer within 120 s")


def queries_from(base: str, count: int) -> list[str]:
    """Captions of indexed images, gathered through the API itself."""
    seeds = ["red circle", "blue square", "green triangle", "yellow", "purple", "orange"]
    captions: list[str] = []
    for seed in seeds:
        reply = requests.get(f"{base}/api/search", params={"q": seed, "k": 100}).json()
        captions += [c for r in reply["results"] for c in r["captions"]]
    if not captions:
        captions = seeds
    return [captions[i % len(captions)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="runs")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    process = start_server(os.path.abspath(args.root), port)
    base = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        queries = queries_from(base, args.queries)
        for query in queries[:20]:  # warm-up, not timed
            session.get(f"{base}/api/search", params={"q": query, "k": args.k}).raise_for_status()
        round_trip, search = [], []
        for query in queries:
            started = time.perf_counter()
            reply = session.get(f"{base}/api/search", params={"q": query, "k": args.k})
            round_trip.append((time.perf_counter() - started) * 1000.0)
            reply.raise_for_status()
            search.append(reply.json()["search_ms"])
        version = session.get(f"{base}/api/search", params={"q": "red"}).json()["version"]
    finally:
        process.terminate()
        process.wait(timeout=30)
    result = {
        "root": os.path.abspath(args.root),
        "queries": len(queries),
        "k": args.k,
        "version": version,
        "api_search_p50_ms": round(float(np.percentile(round_trip, 50)), 2),
        "api_search_p95_ms": round(float(np.percentile(round_trip, 95)), 2),
        "task_library_p50_ms": round(float(np.percentile(search, 50)), 3),
        "task_library_p95_ms": round(float(np.percentile(search, 95)), 3),
        "load_average": os.getloadavg(),
    }
    print(
        f"/api/search on v{version}, {result['queries']} queries, k={args.k}, server warm: "
        f"p50 {result['api_search_p50_ms']} ms, p95 {result['api_search_p95_ms']} ms "
        f"(Task Library search alone: p50 {result['task_library_p50_ms']} ms, "
        f"p95 {result['task_library_p95_ms']} ms); load average {result['load_average']}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
