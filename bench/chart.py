"""Draw bench_peers.py's results as a compact horizontal bar chart (PNG, ~800x400 px).

Needs matplotlib (bench_peers.py installs it into its throwaway venv and runs this file
with that venv's python)::

    python bench/chart.py bench/peers-results.json -o bench/comparison.png [--reference]

Bars: measured msgs/s per contender, labelled with the figure and its share of the raw
consume measured in the same run. ``--reference`` adds Go Goka's published figures
(200-320k msgs/s in memory, ~90k with LevelDB) as hatched grey bars marked "reference,
not measured here": other hardware and broker, so they are context, not a comparison.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

#: Go Goka's figures from the performance issue: (label, low, high) in msgs/s.
GO_REFERENCE = [("Go Goka, in-memory storage", 200_000, 320_000), ("Go Goka, LevelDB", 90_000, 90_000)]

MEASURED_COLOURS = {"raw": "#9aa5b1", "goka": "#2f6fb0", "quix": "#e07b39", "bytewax": "#5a9e6f"}


def draw(doc: dict[str, Any], out: Path, reference: bool) -> None:
    rows = [r for r in doc["results"] if r.get("status") == "ok" and r.get("rate")]
    rows.sort(key=lambda r: r["rate"])  # largest at the top of a barh chart
    failed = [r["label"] for r in doc["results"] if r.get("status") != "ok"]

    labels = [r["label"] for r in rows]
    values = [r["rate"] for r in rows]
    colours = [MEASURED_COLOURS.get(r["name"], "#777777") for r in rows]
    texts = [f"{r['rate']:,.0f}"
             + (f"  ({r['ratio_to_raw']:.1%} of raw)" if r.get("ratio_to_raw") and r["name"] != "raw" else "")
             for r in rows]

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    y: list[float] = [float(i) for i in range(len(rows))]
    ax.barh(y, values, color=colours, height=0.6)
    for yi, value, text in zip(y, values, texts):
        ax.text(value, yi, "  " + text, va="center", fontsize=9)

    top = max(values, default=1)
    if reference:
        # Below the measured bars, separated by a dashed line, hatched and grey.
        ref_y = [-1.2 - i for i in range(len(GO_REFERENCE))]
        for yi, (label, low, high) in zip(ref_y, GO_REFERENCE):
            ax.barh(yi, low, color="white", edgecolor="#888888", hatch="///", height=0.6)
            if high > low:  # the published range: a lighter segment from low to high
                ax.barh(yi, high - low, left=low, color="white", edgecolor="#bbbbbb", hatch="..", height=0.6)
            figure = f"{low // 1000}–{high // 1000}k" if high != low else f"~{low // 1000}k"
            ax.text(high, yi, f"  {figure}  (reference, not measured here)", va="center", fontsize=8,
                    style="italic", color="#555555")
        ax.axhline(-0.6, color="#888888", linestyle="--", linewidth=0.8)
        y += ref_y
        labels += [label for label, _, _ in GO_REFERENCE]
        top = max(top, max(high for _, _, high in GO_REFERENCE))

    ax.set_yticks(y, labels, fontsize=9)
    if reference:
        for tick, label in zip(ax.get_yticklabels(), labels):
            if any(label == ref for ref, _, _ in GO_REFERENCE):
                tick.set_color("#555555")
                tick.set_fontstyle("italic")
    ax.set_xlim(0, top * 1.55)  # room for the value labels
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
    ax.set_xlabel("messages per second (steady state, higher is better)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    broker = {"embedded": "goka.EmbeddedCluster (librdkafka mock)", "tansu": "Tansu"}.get(doc["broker"], doc["broker"])
    title = (f"click-count: {doc['messages']:,} msgs, {doc['partitions']} partitions, {doc['keys']:,} keys, "
             f"per-key state + changelog\nsame broker and run: {broker}; msgs/s from first to last message")
    fig.suptitle(title, x=0.01, ha="left", fontsize=9)
    note = f"{doc.get('machine', '')}; one run, shared noisy VM; {doc.get('date', '')}"
    if failed:
        note += "; not measured: " + ", ".join(failed)
    fig.text(0.01, 0.01, note, fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="JSON written by bench_peers.py --json")
    parser.add_argument("-o", "--output", type=Path, default=Path("comparison.png"))
    parser.add_argument("--reference", action="store_true", help="add Go Goka's reference figures (not measured here)")
    args = parser.parse_args(argv)
    draw(json.loads(args.results.read_text()), args.output, args.reference)
    print(f"# chart: wrote {args.output}")


if __name__ == "__main__":
    main()
