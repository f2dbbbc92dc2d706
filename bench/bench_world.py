"""Generation throughput: problems per second per core, by op, including rendering and hashing.

    python bench/bench_world.py [--seconds 3] [--repeats 5] [--reference-rate]

Single process (= one core). Reports problems per CPU-second (`time.process_time`, so the figure
is per core even when other processes share the machine; wall-clock rates are printed beside it),
the median of `repeats` windows per (op, mode), and the ratio against the reference generator's
accepted-problem rate measured on these machines
(1.6/s at op 20, 15.5/s at op 2; it samples graphs until the op count happens to fit).
Also times a 1M-problem corpus build (use --corpus to run it; minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

from interplay.world import generate

REFERENCE_RATE = {2: 15.5, 20: 1.6}  # accepted problems/s/core of the reference generator (issue #2)


def rate(op: int, mode: str, seconds: float, start: int) -> tuple[float, float]:
    """(problems per CPU-second, problems per wall-second) over a window of `seconds` CPU time."""
    n, c0, w0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - c0 < seconds:
        generate(op, "zoo", mode, seed=0, index=start + n)
        n += 1
    return n / (time.process_time() - c0), n / (time.perf_counter() - w0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ops", default="2,5,10,15,20,30")
    ap.add_argument("--corpus", type=int, default=0, help="also build a corpus of this many problems (2 workers)")
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()} python {platform.python_version()}")
    print(f"{'op':>3} {'mode':>8} {'cpu-s^-1':>9} {'wall-s^-1':>9} {'runs (per CPU-second)':>40} {'vs ref':>8}")
    results = {}
    for op in [int(o) for o in args.ops.split(",")]:
        for mode in ("forward", "reverse"):
            runs = [rate(op, mode, args.seconds, 10**6 * k) for k in range(args.repeats)]
            med = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            ref = REFERENCE_RATE.get(op)
            results[f"{op}/{mode}"] = med
            print(f"{op:>3} {mode:>8} {med:>9.0f} {wall:>9.0f} {str([round(r[0]) for r in runs]):>40} "
                  f"{(f'{med / ref:.0f}x' if ref else ''):>8}")
    if args.corpus:
        from interplay.corpus.build import build_corpus
        from interplay.corpus.config import parse_config

        cfg = parse_config({"seed": 0, "shard_size": 50000, "splits": {"pretrain": {"problems": args.corpus,
                            "modes": {"forward": 0.5, "reverse": 0.5},
                            "mixture": [{"ops": [2, 4], "weight": 0.2}, {"ops": [5, 7], "weight": 0.3},
                                        {"ops": [8, 10], "weight": 0.5}]}}})
        import resource

        with tempfile.TemporaryDirectory() as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            build_corpus(cfg, tmp + "/c", workers=2, progress=False)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        print(f"corpus of {args.corpus:,} problems (op 2-10 mixture, half reverse, 2 workers): {wall:.1f} s wall, "
              f"{cpu:.1f} CPU-s in workers = {args.corpus / cpu:,.0f} problems per CPU-second "
              f"(incl. partition rejection, Parquet, stats); on 2 free cores ~{cpu / 2:.0f} s")
        results["corpus_seconds"] = wall
        results["corpus_cpu_seconds"] = cpu
    print(json.dumps(results))


if __name__ == "__main__":
    main()
