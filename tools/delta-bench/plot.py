#!/usr/bin/env python3
"""Plots delta-bench results: forward time vs sequence length (PNG).

Usage:
  python3 tools/delta-bench/plot.py ours.json [--fla fla.json] -o bench.png

`ours.json` is `delta-bench --json` output; `fla.json` (optional) is
`compare_fla.py --json` output from the same run: FLA called from Python, and,
where it timed them, FLA's calls replayed from a CUDA graph. Rows of kind "fwd" with
d = 128 and 16 heads (the BENCHMARKS.md sweep B x T = 16384 tokens) are drawn
as time against T, one line per implementation. Needs matplotlib.
"""
import argparse
import json
import sys


def sweep(rows, key_ms):
    points = []
    for r in rows:
        if r.get("kind") != "fwd":
            continue
        try:
            B, T, H, d = map(int, r["shape"].split("x"))
        except ValueError:
            continue
        if H == 16 and d == 128 and r.get(key_ms) is not None:
            points.append((T, r[key_ms], B))
    return sorted(points)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ours", help="delta-bench --json output")
    ap.add_argument("--fla", help="compare_fla.py --json output (same run)")
    ap.add_argument("-o", "--output", required=True, help="PNG to write")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot.py: error: matplotlib is needed (pip install matplotlib)")
    ours = sweep(json.load(open(args.ours))["rows"], "ms")
    if not ours:
        sys.exit("plot.py: error: no fwd rows with H = 16, d = 128 in " + args.ours)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p[0] for p in ours], [p[1] for p in ours], "o-", label="deltajit")
    if args.fla:
        rows = json.load(open(args.fla))["rows"]
        fla = sweep(rows, "fla_ms")
        ax.plot([p[0] for p in fla], [p[1] for p in fla], "s--", label="FLA")
        graph = sweep(rows, "fla_graph_ms")
        if graph:
            ax.plot([p[0] for p in graph], [p[1] for p in graph], "^-",
                    label="FLA (CUDA graph)")
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("sequence length T (B x T = 16384 tokens, 16 heads, d = 128)")
    ax.set_ylabel("forward time (ms)")
    ax.set_title("delta-rule forward, bf16")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"plot.py: wrote {args.output}")


if __name__ == "__main__":
    main()
