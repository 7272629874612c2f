#!/usr/bin/env python3
"""Times the reference library (flash-linear-attention) on delta-bench's shapes
in the same run and prints deltajit / FLA ratios.

Usage (on the GPU machine, FLA importable, e.g. installed from wheels):
  delta-bench --package PKG --json ours.json
  python3 tools/delta-bench/compare_fla.py ours.json [--json fla.json]

Both sides use bf16 inputs, in-kernel q/k L2 normalisation and the same shapes.
FLA is timed twice with triton.testing.do_bench: called from Python as a user
calls it ("FLA"), and captured once into a CUDA graph and replayed ("FLA
graph": its kernels without Python's launch overhead, which on a busy or slow
host can exceed the GPU time of these shapes; the fairer kernel-against-kernel
ratio, since delta-bench's launches come from C++). A call that cannot be
captured prints "n/a" there. FLA itself is not part of deltajit and is never
vendored here.
"""
import argparse
import json
import sys

try:
    import torch
    import triton
    import triton.testing
    IMPORT_ERROR = None
except ImportError as e:  # named in main(), before any row is timed
    IMPORT_ERROR = e


def fla_forward(B, T, H, d, state, seq_lens=None):
    from fla.ops.delta_rule import chunk_delta_rule
    dev, dt = "cuda", torch.bfloat16
    if seq_lens:
        T = sum(seq_lens)
    q = torch.randn(B, T, H, d, device=dev, dtype=dt)
    k = torch.randn(B, T, H, d, device=dev, dtype=dt)
    v = torch.randn(B, T, H, d, device=dev, dtype=dt)
    beta = torch.rand(B, T, H, device=dev, dtype=dt).sigmoid()
    cu = None
    n = B
    if seq_lens:
        offs = [0]
        for s in seq_lens:
            offs.append(offs[-1] + s)
        cu = torch.tensor(offs, device=dev, dtype=torch.long)
        n = len(seq_lens)
    h0 = torch.randn(n, H, d, d, device=dev, dtype=torch.float32) if state else None

    def run():
        return chunk_delta_rule(q, k, v, beta, initial_state=h0,
                                output_final_state=state, cu_seqlens=cu,
                                use_qk_l2norm_in_kernel=True)
    return run


def fla_decode(N, H, d):
    from fla.ops.delta_rule import fused_recurrent_delta_rule
    dev, dt = "cuda", torch.bfloat16
    q = torch.randn(N, 1, H, d, device=dev, dtype=dt)
    k = torch.randn(N, 1, H, d, device=dev, dtype=dt)
    v = torch.randn(N, 1, H, d, device=dev, dtype=dt)
    beta = torch.rand(N, 1, H, device=dev, dtype=dt).sigmoid()
    s = torch.randn(N, H, d, d, device=dev, dtype=torch.float32)

    def run():
        return fused_recurrent_delta_rule(q, k, v, beta, initial_state=s,
                                          output_final_state=True,
                                          use_qk_l2norm_in_kernel=True)
    return run


def time_eager(run):
    """ms per call from Python (the first calls compile and autotune)."""
    return triton.testing.do_bench(run, warmup=25, rep=100)


def time_graph(run):
    """ms per replay of `run` captured into a CUDA graph (after time_eager:
    Triton's compiling and autotuning stay outside the capture; warm-up
    calls on a side stream, as torch's graph capture asks)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return triton.testing.do_bench(graph.replay, warmup=25, rep=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ours", help="delta-bench --json output")
    ap.add_argument("--json", help="write FLA's timings and the ratios here "
                    "(rewritten after every row)")
    ap.add_argument("--only", action="append", default=[],
                    help="time only rows whose kind starts with this "
                    "(fwd, fwd+state, fwd varlen, decode); repeatable")
    ap.add_argument("--no-graph", action="store_true",
                    help="do not time FLA replayed from a CUDA graph")
    args = ap.parse_args()
    missing = IMPORT_ERROR
    if missing is None:
        try:
            import fla.ops.delta_rule  # noqa: F401
        except ImportError as e:
            missing = e
    if missing is not None:
        print(f"compare_fla: error: cannot import the reference library "
              f"({missing}); install flash-linear-attention and its torch "
              f"and triton here (e.g. python3 -m pip install --no-deps "
              f"fla_core-*.whl flash_linear_attention-*.whl, or unpack the "
              f"wheels onto PYTHONPATH)", file=sys.stderr)
        sys.exit(2)
    try:
        with open(args.ours) as f:
            rows = json.load(f)["rows"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"compare_fla: error: cannot read delta-bench's rows from "
              f"'{args.ours}': {e!r}", file=sys.stderr)
        sys.exit(2)
    failed = 0
    out = []
    # Rows are printed (flushed) and the JSON rewritten as they come: FLA's
    # first call per shape compiles and autotunes Triton kernels (tens of
    # seconds), so a run cut short by a time limit keeps what it measured.
    print(f"{'kind':<12} {'shape':<22} {'deltajit':>10} {'FLA':>10} {'FLA/deltajit':>13}"
          + ("" if args.no_graph else f" {'FLA graph':>10} {'graph/deltajit':>15}"),
          flush=True)
    for r in rows:
        kind, shape = r["kind"], r["shape"]
        if args.only and not any(kind.startswith(o) for o in args.only):
            continue
        try:
            if kind in ("fwd", "fwd+state"):
                B, T, H, d = map(int, shape.split("x"))
                run = fla_forward(B, T, H, d, kind == "fwd+state")
            elif kind == "fwd varlen":
                # delta-bench's varlen batch (see delta-bench.cpp).
                run = fla_forward(1, 0, 16, 128, False,
                                  [4096, 1000, 3000, 2500, 17, 5771])
            elif kind == "decode":
                parts = dict(p.split("=") for p in shape.split())
                run = fla_decode(int(parts["N"]), int(parts["H"]), int(parts["d"]))
            else:
                continue
            fla = time_eager(run)
        except Exception as e:  # report and go on with the other shapes
            print(f"{kind:<12} {shape:<22} FLA failed: {e}", file=sys.stderr,
                  flush=True)
            failed += 1
            continue
        ratio = fla / r["ms"]
        row = {"kind": kind, "shape": shape, "deltajit_ms": r["ms"],
               "fla_ms": fla, "fla_over_deltajit": ratio}
        line = f"{kind:<12} {shape:<22} {r['ms']:>8.3f}ms {fla:>8.3f}ms {ratio:>12.2f}x"
        if not args.no_graph:
            try:
                graph = time_graph(run)
                row["fla_graph_ms"] = graph
                row["fla_graph_over_deltajit"] = graph / r["ms"]
                line += f" {graph:>8.3f}ms {graph / r['ms']:>14.2f}x"
            except Exception as e:  # the eager figure stands
                print(f"{kind:<12} {shape:<22} FLA graph capture failed: {e}",
                      file=sys.stderr, flush=True)
                row["fla_graph_ms"] = None
                line += f" {'n/a':>10} {'n/a':>15}"
        out.append(row)
        print(line, flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rows": out}, f, indent=2)
    if failed and not out:
        print(f"compare_fla: error: FLA failed on all {failed} rows",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
