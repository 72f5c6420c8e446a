"""The evaluator's pictures: recall@K curves and a contact sheet of queries with their
top-5 images, so people can look at what the model retrieves, not only read numbers.

matplotlib's object API (Figure + Agg canvas), not pyplot: no global state and no display
needed inside pipeline workers.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

_MARKED_KS = (1, 5, 10)


def recall_plot(path: str, curves: dict[str, list[float]], title: str) -> None:
    """One line per direction: recall@K for K = 1..len(curve), with R@1/5/10 marked on the
    line and their values in the legend (labels next to the points overlapped wherever the
    two directions' curves run close)."""
    figure = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, curve in curves.items():
        ks = np.arange(1, len(curve) + 1)
        marked = [k for k in _MARKED_KS if k <= len(curve)]
        values = ", ".join(f"R@{k} {curve[k - 1]:.2f}" for k in marked)
        axes.plot(
            ks,
            curve,
            "-o",
            markevery=[k - 1 for k in marked],
            label=f"{label}: {values}" if values else label,
        )
    axes.set_xscale("log")
    ticks = [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= max(len(c) for c in curves.values())]
    axes.set_xticks(ticks, [str(k) for k in ticks])
    axes.minorticks_off()
    axes.set_xlabel("K")
    axes.set_ylabel("recall@K")
    axes.set_ylim(0, 1.02)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


def contact_sheet(path: str, queries: list[dict], images: dict[int, bytes]) -> None:
    """A row per query: its caption, then its top-5 images; the query's own image is framed
    green (with its rank), the others grey."""
    columns = 6
    figure = Figure(figsize=(2.0 * columns, 2.1 * len(queries)), dpi=100)
    FigureCanvasAgg(figure)
    for row, query in enumerate(queries):
        text_axes = figure.add_subplot(len(queries), columns, row * columns + 1)
        text_axes.axis("off")
        text_axes.text(
            0.0,
            0.5,
            "\n".join(textwrap.wrap(f"\u201c{query['caption']}\u201d", 22)),
            va="center",
            ha="left",
            fontsize=9,
        )
        for rank, (image_row, score) in enumerate(zip(query["top_rows"], query["scores"]), start=1):
            axes = figure.add_subplot(len(queries), columns, row * columns + 1 + rank)
            axes.imshow(np.asarray(Image.open(io.BytesIO(images[image_row])).convert("RGB")))
            axes.set_xticks([])
            axes.set_yticks([])
            hit = image_row == query["positive_row"]
            for spine in axes.spines.values():
                spine.set_edgecolor("#1a9e2f" if hit else "#bbbbbb")
                spine.set_linewidth(4 if hit else 1)
            axes.set_title(
                f"#{rank}  {score:.2f}" + ("  \u2713" if hit else ""),
                fontsize=8,
                color="#1a9e2f" if hit else "black",
            )
    figure.suptitle("Eval queries and their top-5 images (own image framed green)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
