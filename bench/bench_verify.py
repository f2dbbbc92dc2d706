"""Verifier throughput: completions verified per second on one core (op 8-14, gold-length traces).

    .venv/bin/python bench/bench_verify.py [--repeats 7] [--rounds 20]

Workloads (each a list of (gold, completion) pairs, gold graphs loaded once as in pass@k scoring):
  compat-fwd / compat-rev : the reference generator's op 8-14 gold traces (shared/compat fixture)
  ours-fwd / ours-rev     : our generator's op 8-14 gold traces (3 contexts, 300 per mode)
  ours-mutated            : the same traces with one step dropped and one value changed
  garbage                 : random printable text of gold-trace length
Baseline, measured in the same run on the same completions: answer-only checking (the outcome
reward's work: find the answer, compare it), so the ratio is the price of process verification.
Prints a Markdown table (median of --repeats timings, each over --rounds passes of the workload).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from interplay.text import format_completion
from interplay.verify import load_gold, verify
from interplay.verify.parse import extract_answer

COMPAT = Path(__file__).resolve().parents[2] / "shared" / "compat" / "reference_samples.jsonl"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference_samples.jsonl"


def compat_pairs(mode: str) -> list[tuple]:
    path = COMPAT if COMPAT.exists() else FIXTURE
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(load_gold(r), format_completion(r)) for r in rows if 8 <= r["op"] <= 14 and r["mode"] == mode]


def ours_records(mode: str, count: int = 300) -> list[dict]:
    from interplay.world import generate

    contexts = ("zoo", "school", "movies")
    return [generate(op=8 + i % 7, context=contexts[i % 3], mode=mode, seed=99, index=i) for i in range(count)]


def mutate(completion: str, rng: random.Random) -> str:
    steps = completion.split("Define ")
    if len(steps) > 3:
        del steps[rng.randrange(2, len(steps) - 1)]  # drop a step
    text = "Define ".join(steps)
    return text.replace(" = 4.", " = 5.", 1)  # and change one stated value where there is one


def garbage(length: int, rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFG=;.+*0123456789"
    return "".join(rng.choice(alphabet) for _ in range(length))


def time_per_item(fn, pairs, rounds: int, repeats: int) -> float:
    """Median over repeats of seconds per completion."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(rounds):
            for gold, text in pairs:
                fn(gold, text)
        samples.append((time.perf_counter() - t0) / (rounds * len(pairs)))
    return statistics.median(samples)


def answer_only(gold, text):
    return extract_answer(text)[0] == gold.answer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(0)

    workloads: dict[str, list[tuple]] = {
        "compat-fwd": compat_pairs("normalforward"),
        "compat-rev": compat_pairs("forwardreverse"),
    }
    for mode, label in (("forward", "ours-fwd"), ("reverse", "ours-rev")):
        workloads[label] = [(load_gold(r), format_completion(r)) for r in ours_records(mode)]
    both = workloads["ours-fwd"] + workloads["ours-rev"]
    workloads["ours-mutated"] = [(g, mutate(t, rng)) for g, t in both]
    workloads["garbage"] = [(g, garbage(len(t), rng)) for g, t in both]

    # Sanity: gold traces verify as process-correct (a benchmark of a broken verifier is worthless).
    for label in ("compat-fwd", "compat-rev", "ours-fwd", "ours-rev"):
        assert all(verify(g, t).process_correct for g, t in workloads[label]), label

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"median of {args.repeats} x {args.rounds} passes; single process")
    print()
    print("| workload | completions | mean chars | verify µs/completion | completions/s/core | answer-only µs | verify / answer-only |")
    print("|---|---|---|---|---|---|---|")
    for label, pairs in workloads.items():
        t_verify = time_per_item(verify, pairs, args.rounds, args.repeats)
        t_base = time_per_item(answer_only, pairs, args.rounds, args.repeats)
        chars = statistics.mean(len(t) for _, t in pairs)
        print(f"| {label} | {len(pairs)} | {chars:.0f} | {t_verify * 1e6:.1f} | {1 / t_verify:,.0f} | "
              f"{t_base * 1e6:.2f} | {t_verify / t_base:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
