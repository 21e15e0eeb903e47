#!/usr/bin/env python3
"""Ratio table of benches/compare/run.sh: reads OUT/slm_<r>.json (Google Benchmark) and OUT/torch_<r>.json
(torch_qwen2.py) for rounds 1..N and prints medians over rounds, the per-round ratio's median (both sides of a
round ran under the same machine load), and the goals of docs/performance.md.

    table.py OUT N
"""
import json
import statistics
import sys


def name(b):  # "qwen2_0.5b/f32/tg128@d128/min_time:2.000/real_time" -> "qwen2_0.5b/f32/tg128@d128"
    return "/".join(p for p in b["run_name"].split("/") if not p.startswith("min_time") and p != "real_time")


def main():
    out, reps = sys.argv[1], int(sys.argv[2])
    rounds = []
    for r in range(1, reps + 1):
        slm = json.load(open(f"{out}/slm_{r}.json"))
        torch = json.load(open(f"{out}/torch_{r}.json"))
        rounds.append(({name(b): b for b in slm["benchmarks"]}, torch, slm["context"]))
    med = statistics.median
    ctx, torch = rounds[-1][2], rounds[-1][1]
    print(f"slm: {ctx.get('num_cpus')} cpus, {ctx.get('threads')} threads; torch {torch['torch_version']}, "
          f"{torch['threads']} threads. Medians over {reps} alternating rounds; load averages at each slm start: "
          + ", ".join(str([round(x, 1) for x in c.get("load_avg", [])]) for _, _, c in rounds))
    print()
    print("| mode | test | slm tok/s | torch tok/s | slm / torch | slm % of bw bound | goal |")
    print("|------|------|----------:|------------:|------------:|------------------:|------|")
    for mode in ("f32", "bf16"):
        for test in ("pp512", "tg128@d128"):
            ours = [s[f"qwen2_0.5b/{mode}/{test}"]["tok/s"] for s, _, _ in rounds]
            theirs = [t["results"][mode][test]["tok_s"] for _, t, _ in rounds]
            ratio = med([a / b for a, b in zip(ours, theirs)])
            if test == "pp512":
                pct, goal = "", ("met" if ratio >= 2 else "NOT met") + " (>= 2x torch)"
            else:
                p = med([s[f"qwen2_0.5b/{mode}/{test}"]["pct_of_bw_bound"] for s, _, _ in rounds])
                pct, goal = f"{p:.1f}%", ("met" if p >= 60 else "NOT met") + " (>= 60% of bound)"
            print(f"| {mode} | {test} | {med(ours):.2f} | {med(theirs):.2f} | {ratio:.2f} | {pct} | {goal} |")
    print()
    for i, (s, t, _) in enumerate(rounds, 1):
        cells = [f"{m} {x}: {s[f'qwen2_0.5b/{m}/{x}']['tok/s']:.1f} / {t['results'][m][x]['tok_s']:.1f}"
                 for m in ("f32", "bf16") for x in ("pp512", "tg128@d128")]
        bw = [f"{s[f'qwen2_0.5b/{m}/tg128@d128']['read_GB/s']:.1f}" for m in ("f32", "bf16")]
        print(f"round {i} (slm / torch tok/s): " + "; ".join(cells) + f"; read GB/s at tg f32/bf16: {', '.join(bw)}")


if __name__ == "__main__":
    main()
