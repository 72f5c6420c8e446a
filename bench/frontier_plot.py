"""The on-device searcher's recall@10 vs p50 frontier as a PNG (matplotlib, no display).

One panel per collection size: every measured (number of leaves, leaves searched, lookup)
point of the searcher bench's frontier pass, the points no other beats on both axes
joined as the frontier, the blog config, our auto-tuned default and exact search.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from bench.readme import pareto  # noqa: E402


def write(searcher_step: dict, path: str) -> str:
    sizes = [s for s in searcher_step["sizes"] if s.get("frontier")]
    figure, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.8), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        points = size["frontier"]
        leaves = sorted({p["num_leaves"] for p in points})
        colours = plt.cm.viridis([i / max(1, len(leaves) - 1) for i in range(len(leaves))])
        for count, colour in zip(leaves, colours):
            for lookup, marker in (("int8", "o"), ("float", "^")):
                mine = [p for p in points if p["num_leaves"] == count and p["lookup"] == lookup]
                ax.scatter(
                    [p["p50_ms"] for p in mine],
                    [p["recall_at_10"] for p in mine],
                    s=14,
                    marker=marker,
                    color=colour,
                    alpha=0.7,
                    label=f"{count} leaves, {lookup}",
                )
        front = pareto(points)
        ax.plot(
            [p["p50_ms"] for p in front],
            [p["recall_at_10"] for p in front],
            color="black",
            linewidth=1,
            label="frontier (ours)",
        )
        rows = {r["config"]: r for r in size["rows"]}
        blog = rows.get("blog 351/4 INT8")
        default = rows.get("default (auto)")
        if blog:
            ax.scatter(
                [blog["p50_ms"]],
                [blog["recall_at_10"]],
                s=120,
                marker="*",
                color="red",
                zorder=5,
                label="blog 351/4 INT8",
            )
            ax.axvspan(blog["p50_ms"] * 0.9, blog["p50_ms"] * 1.1, color="red", alpha=0.07)
            ax.axvline(
                blog["p50_ms"] * 1.25,
                color="red",
                linestyle=":",
                linewidth=1,
                label="1.25x blog p50",
            )
        if default:
            ax.scatter(
                [default["p50_ms"]],
                [default["recall_at_10"]],
                s=110,
                marker="D",
                color="orange",
                edgecolor="black",
                zorder=6,
                label=f"default {default['leaves_to_search']}/{default['num_leaves']} "
                f"{default['lookup']}",
            )
        ax.axhline(0.95, color="grey", linestyle="--", linewidth=1, label="recall 0.95")
        exact = next(
            (b for b in size.get("baselines", []) if b["config"].startswith("exact")), None
        )
        if exact:
            ax.scatter(
                [exact["p50_ms"]],
                [1.0],
                s=80,
                marker="s",
                color="green",
                zorder=5,
                label=f"{exact['config']} (not on device)",
            )
        ax.axhline(1.0, color="green", linewidth=0.5)
        ax.set_xscale("log")
        ax.set_xlabel("p50 ms per query (Task Library TextSearcher, CPU time)")
        ax.set_ylabel("recall@10 vs exact search")
        ax.set_ylim(max(0.5, min(p["recall_at_10"] for p in points) - 0.02), 1.005)
        ax.set_title(f"{size['num_items']:,} items")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, loc="lower right", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
