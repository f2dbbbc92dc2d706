"""Benchmark: continuous batching against fixed batches, on an evaluation's mix of problems.

    .venv/bin/python bench/bench_eval_batching.py --model runs/.../pretrain-b0-*/final \
        --problems runs/.../problems-b0-*/problems.jsonl --per-op 2 --ops 2-14 --n 32 --runs 3

The same sampler, model, requests (the first --per-op problems of each op, --n samples each, in the
order `interplay eval` asks for them) and settings on both sides; only the batching differs:

* fixed: the next `--batch-rows` requests start when the whole batch has finished (finished rows are
  compacted away, but the batch empties while its longest row runs on);
* continuous (the sampler's default): waiting requests take the places of finished rows at once.

Runs alternate between the two; medians are reported. Both sides must produce the same completions
(randomness is keyed by sample, not by batch); the script counts any that differ (a different batch
can change a logit's last float bits, which flips a token only in a near-tie).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint folder")
    parser.add_argument("--problems", required=True, help="problems (a corpus folder or a problems file)")
    parser.add_argument("--ops", default="2-14", help="op range, e.g. 2-14")
    parser.add_argument("--per-op", type=int, default=2)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--batch-rows", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()

    import torch

    from interplay.evaluate.problems import load_problems
    from interplay.lm.sampler import Request, Sampler, SamplingConfig
    from interplay.text import format_prompt

    if args.threads:
        torch.set_num_threads(args.threads)
    lo, hi = (int(x) for x in args.ops.split("-"))
    problems = load_problems(args.problems)
    chosen = []
    for op in range(lo, hi + 1):
        chosen += [p for p in problems if p["op"] == op][: args.per_op]
    sampler = Sampler.from_pretrained(args.model, device="cpu", dtype="float32")
    requests = [Request(sampler.encode(format_prompt(p)), j, prompt_index=i)
                for i, p in enumerate(chosen) for j in range(args.n)]
    config = SamplingConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                            max_batch_rows=args.batch_rows)

    def run(refill: bool) -> dict[tuple[int, int], list[int]]:
        sampler.refill = refill
        return {(c.prompt_index, c.sample_index): c.token_ids for c in sampler.generate(requests, config)}

    times: dict[str, list[float]] = {"fixed": [], "continuous": []}
    outputs: dict[str, dict] = {}
    run(True)  # warm-up
    for _ in range(args.runs):
        for name, refill in (("fixed", False), ("continuous", True)):
            t0 = time.perf_counter()
            outputs[name] = run(refill)
            times[name].append(time.perf_counter() - t0)
    tokens = sum(len(t) for t in outputs["continuous"].values())
    differ = sum(outputs["fixed"][k] != v for k, v in outputs["continuous"].items())
    result = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
        "torch": torch.__version__,
        "setup": {**vars(args), "problems_used": len(chosen), "requests": len(requests)},
        "tokens": tokens,
        "mean_completion_tokens": round(tokens / len(requests), 1),
        "completions_that_differ": differ,
    }
    for name, ts in times.items():
        med = statistics.median(ts)
        result[name] = {"seconds": [round(t, 2) for t in ts], "median_s": round(med, 2),
                        "tokens_per_s": round(tokens / med, 1)}
    result["speedup"] = round(result["fixed"]["median_s"] / result["continuous"]["median_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
