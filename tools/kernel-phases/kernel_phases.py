#!/usr/bin/env python3
"""kernel_phases: where a kernel's time goes, phase by phase.

deltajit's kernels are chains of phases separated by barriers (bar.sync /
BAR.SYNC, named ones included). This tool splits a kernel's SASS at those barriers
and sums, per phase:

  samples CSV   Nsight Compute's source-level export of one profiled kernel
                (ncu --set full -o REP ...; ncu -i REP --page source --csv
                --print-source sass > CSV): the share of warp stall samples,
                the leading stall reasons, the share of executed warp
                instructions and the most executed opcodes; --top N lists
                the N instructions with the most samples.
  shared CSV    the same export's shared-memory wavefronts (one shared-pipe
                cycle each) and their excess over the ideal (bank
                conflicts): per phase, and with --top N the N instructions
                with the most excess wavefronts. (A kernel bound by the
                shared pipe shows L1/TEX throughput near its top in ncu's
                details page; deltajit's prepare did, 21% of its wavefronts
                excess, before the twenty-first session.)
  static SASS   nvdisasm's text of a cubin (ptxas -arch=sm_90a K.ptx -o
                K.cubin; nvdisasm -c K.cubin > SASS): the static instruction
                count and opcodes per phase of each kernel matching
                --kernel REGEX (no GPU needed: compare two builds' phases).

The phases are numbered from 0; the barrier ending a phase belongs to it,
and so do the samples of warps waiting there (ncu records them at an
instruction shortly after the barrier: the tool moves them back).
Exit status: 0, or 2 with one line naming what is wrong with the input.
"""

import argparse
import collections
import csv
import re
import signal
import sys

SAMPLES = "Warp Stall Sampling (All Samples)"
EXECUTED = "Instructions Executed"
WAVEFRONTS = "L1 Wavefronts Shared"
EXCESS = "L1 Wavefronts Shared Excessive"


def fail(message):
    print(f"kernel_phases: error: {message}", file=sys.stderr)
    sys.exit(2)


def opcode(instruction):
    """The opcode of a SASS instruction without predicate and modifiers."""
    words = instruction.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return words[0].split(".")[0] if words else ""


def ends_phase(instruction):
    words = instruction.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return bool(words) and words[0].startswith("BAR.SYNC")


def as_int(text):
    text = text.replace(",", "").strip()
    try:
        return int(float(text)) if text not in ("", "-") else 0
    except ValueError:
        return 0


def read_export(path):
    """The header and the instruction rows (column name -> text) of an ncu
    source export."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    # The export starts with a "Kernel Name" line, then the header.
    for i, row in enumerate(rows):
        if "Source" in row and SAMPLES in row:
            header = row
            data = [dict(zip(header, r)) for r in rows[i + 1:]
                    if len(r) >= len(header)]
            if not data:
                fail(f"{path} has no instruction rows")
            return header, data
    fail(f"{path} is not an ncu source export (no 'Source' and "
         f"'{SAMPLES}' columns; export with --page source --csv "
         f"--print-source sass)")


def instruction(row, **fields):
    """An instruction row's source, executed count and the named columns."""
    out = {"source": row["Source"].strip(),
           "executed": as_int(row.get(EXECUTED, ""))}
    out.update({k: as_int(row[column]) for k, column in fields.items()})
    return out


def read_samples(path):
    header, data = read_export(path)
    stalls = [h for h in header
              if h.startswith("stall_") and "Not Issued" not in h]
    out = []
    for row in data:
        r = instruction(row, samples=SAMPLES)
        r["stalls"] = {h[len("stall_"):]: as_int(row[h]) for h in stalls}
        out.append(r)
    return out


def split_phases(rows, source):
    phases, current = [], []
    for row in rows:
        current.append(row)
        if ends_phase(source(row)):
            phases.append(current)
            current = []
    if current:
        phases.append(current)
    return phases


# ncu samples a warp waiting at a block barrier at an instruction shortly
# after it (measured: 1 to 14 instructions after BAR.SYNC in deltajit's
# kernels, where the scheduler's lookahead stops).
BARRIER_WINDOW = 16


def phase_samples(phases):
    """Per phase: (samples, Counter of stall reasons), with the barrier
    stalls sampled in the first BARRIER_WINDOW instructions of a phase
    counted in the phase before: they are the wait for the barrier that
    ended it."""
    totals = [0] * len(phases)
    stalls = [collections.Counter() for _ in phases]
    for n, phase in enumerate(phases):
        for i, r in enumerate(phase):
            waited = (r["stalls"].get("barrier", 0)
                      if i < BARRIER_WINDOW and n else 0)
            stalls[n].update(r["stalls"])
            stalls[n]["barrier"] -= waited
            totals[n] += r["samples"] - waited
            if waited:
                stalls[n - 1]["barrier"] += waited
                totals[n - 1] += waited
    return totals, stalls


def pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


def samples_command(args):
    rows = read_samples(args.csv)
    total = sum(r["samples"] for r in rows)
    executed = sum(r["executed"] for r in rows)
    print(f"{len(rows)} instructions, {total} stall samples, "
          f"{executed} warp instructions executed")
    phases = split_phases(rows, lambda r: r["source"])
    phase_totals, phase_stalls = phase_samples(phases)
    for n, phase in enumerate(phases):
        samples, stalls = phase_totals[n], phase_stalls[n]
        ops = collections.Counter()
        for r in phase:
            ops[opcode(r["source"])] += r["executed"]
        lead = ", ".join(f"{k} {pct(v, total):.1f}"
                         for k, v in stalls.most_common(3) if v)
        top_ops = ", ".join(f"{k} {pct(v, executed):.1f}"
                            for k, v in ops.most_common(4) if v)
        lead = f" ({lead})" if lead else ""
        print(f"phase {n:2d}: {pct(samples, total):5.1f}% of samples{lead};"
              f" {pct(sum(ops.values()), executed):5.1f}% of instructions"
              f" ({top_ops})")
    if args.top:
        print(f"hottest {args.top} instructions:")
        hot = sorted(range(len(rows)), key=lambda i: -rows[i]["samples"])
        for i in sorted(hot[:args.top]):
            r = rows[i]
            why = max(r["stalls"].items(), key=lambda kv: kv[1],
                      default=("", 0))
            print(f"  {i:5d} {pct(r['samples'], total):5.1f}% "
                  f"{r['source'][:60]:60s} {why[0]}")


def shared_command(args):
    header, data = read_export(args.csv)
    if WAVEFRONTS not in header or EXCESS not in header:
        fail(f"{args.csv} has no '{WAVEFRONTS}' / '{EXCESS}' columns "
             f"(profile with --set full, or a set with the memory "
             f"workload's source counters)")
    rows = [instruction(row, wavefronts=WAVEFRONTS, excess=EXCESS)
            for row in data]
    total = sum(r["wavefronts"] for r in rows)
    excess = sum(r["excess"] for r in rows)
    print(f"{len(rows)} instructions, {total} shared wavefronts, "
          f"{excess} excess ({pct(excess, total):.1f}%: bank conflicts)")
    for n, phase in enumerate(split_phases(rows, lambda r: r["source"])):
        w = sum(r["wavefronts"] for r in phase)
        e = sum(r["excess"] for r in phase)
        print(f"phase {n:2d}: {pct(w, total):5.1f}% of wavefronts, "
              f"{pct(e, w):5.1f}% of them excess "
              f"({pct(e, excess):5.1f}% of the excess)")
    if args.top:
        print(f"most excess wavefronts, {args.top} instructions "
              f"(excess / wavefronts per executed warp instruction):")
        worst = sorted((i for i, r in enumerate(rows) if r["excess"]),
                       key=lambda i: -rows[i]["excess"])
        for i in sorted(worst[:args.top]):
            r = rows[i]
            per = max(r["executed"], 1)
            print(f"  {i:5d} {r['excess'] / per:5.1f} / "
                  f"{r['wavefronts'] / per:5.1f} {r['source'][:60]}")


def static_command(args):
    try:
        with open(args.sass) as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read {args.sass}: {e.strerror}")
    try:
        wanted = re.compile(args.kernel)
    except re.error as e:
        fail(f"--kernel {args.kernel!r} is not a regular expression: {e}")
    functions = re.split(r"\n(?=\s*\.type\s+\S+,@function)", text)
    found = 0
    for part in functions:
        m = re.search(r"\.type\s+(\S+),@function", part)
        if not m or not wanted.search(m.group(1)):
            continue
        found += 1
        instructions = re.findall(r"/\*[0-9a-f]{4,}\*/\s+(.*?)\s*;", part)
        print(f"{m.group(1)}: {len(instructions)} instructions")
        for n, phase in enumerate(split_phases(instructions, lambda s: s)):
            ops = collections.Counter(opcode(s) for s in phase)
            top_ops = ", ".join(f"{k} {v}" for k, v in ops.most_common(5))
            print(f"  phase {n:2d}: {len(phase):5d} ({top_ops})")
    if not found:
        fail(f"no kernel in {args.sass} matches --kernel {args.kernel!r}"
             if ".type" in text else
             f"{args.sass} holds no functions (expected nvdisasm -c output)")


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    parser = argparse.ArgumentParser(
        prog="kernel_phases", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("samples", help="stall samples per phase (ncu CSV)")
    s.add_argument("csv")
    s.add_argument("--top", type=int, default=0,
                   help="also list the N instructions with the most samples")
    s.set_defaults(run=samples_command)
    w = sub.add_parser("shared",
                       help="shared wavefronts and bank conflicts per phase")
    w.add_argument("csv")
    w.add_argument("--top", type=int, default=0,
                   help="also list the N instructions with the most excess")
    w.set_defaults(run=shared_command)
    t = sub.add_parser("static", help="static SASS per phase (nvdisasm)")
    t.add_argument("sass")
    t.add_argument("--kernel", default=".",
                   help="regular expression of the kernels to show")
    t.set_defaults(run=static_command)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
