"""Short trials towards the `cpu` preset: which model shape learns our problems fastest per CPU-second.

    .venv/bin/python bench/cpu_preset_trials.py --corpus runs/corpus-demo --tokenizer runs/tokenizer-demo \
        --tokens 1M --trials cpu,narrow,wide --out runs/cpu-trials

Each trial is `interplay pretrain configs/pretrain-cpu.yaml` with a model shape and learning rate
(below), the same data, token budget, batch and schedule. Reported per trial: CPU-seconds per 1k
tokens (this process, all threads: steadier than wall time on a shared CPU), held-out solution-token
loss per op range, and greedy answer / fully-correct-trace accuracy on held-out problems (our
sampler and verifier). Short trials rank early learning speed, not the two-hour end point.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TRIALS = {
    # name: (model fields, lr)
    "cpu": ({"preset": "cpu"}, 2e-3),  # 6 x 256, FFN 1024: 5.9M non-embedding
    "narrow": ({"preset": "cpu", "hidden_size": 192, "num_attention_heads": 3, "num_key_value_heads": 1,
                "intermediate_size": 768, "num_hidden_layers": 4}, 3e-3),  # 4 x 192: 2.2M
    "wide": ({"preset": "cpu", "hidden_size": 384, "num_attention_heads": 6, "num_key_value_heads": 2,
              "intermediate_size": 1536, "num_hidden_layers": 4}, 1.5e-3),  # 4 x 384: 8.9M
    "deep": ({"preset": "cpu", "num_hidden_layers": 8}, 2e-3),  # 8 x 256: 7.9M
}


def run_trial(name: str, args) -> Path:
    fields, lr = TRIALS[name]
    out = Path(args.out) / name
    cmd = [sys.executable, "-m", "interplay", "pretrain", str(ROOT / "src/interplay/configs/pretrain-cpu.yaml"),
           "--out", str(out), "--set", f"model={json.dumps(fields)}", "--set", f"optim.lr={lr}",
           "--set", f"optim.min_lr={lr / 10}", "--set", f"train.tokens={args.tokens}",
           "--set", f"data.path={args.corpus}", "--set", f"tokenizer={args.tokenizer}",
           "--set", f"optim.warmup_steps={args.warmup}", "--set", f"eval.every={args.eval_every}",
           "--set", f"train.batch_size={args.batch}", "--set", f"train.micro_batch_size={args.batch}",
           "--set", f"train.compile={'true' if args.compile else 'false'}", "--set", "checkpoint.every=0",
           "--set", "log.every=25"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return out


def accuracy(folder: Path, corpus: str, per_op: int) -> dict[str, dict[str, float]]:
    from interplay.lm.records import iter_records
    from interplay.lm.sampler import SamplingConfig, load_sampler
    from interplay.text import format_prompt
    from interplay.verify import verify

    by_op: dict[int, list] = {}
    for record in iter_records(corpus, "eval"):
        if len(by_op.setdefault(record["op"], [])) < per_op:
            by_op[record["op"]].append(record)
    records = [r for op in sorted(by_op) for r in by_op[op]]
    sampler = load_sampler(folder)
    groups = sampler.sample([format_prompt(r) for r in records], SamplingConfig(n=1, temperature=0.0, max_new_tokens=400))
    table: dict[str, dict[str, float]] = {}
    for record, group in zip(records, groups):
        v = verify(record, group[0].text)
        row = table.setdefault(f"op{record['op']}", {"n": 0, "answer": 0.0, "process": 0.0})
        row["n"] += 1
        row["answer"] += v.outcome_correct
        row["process"] += v.process_correct
    for row in table.values():
        row["answer"] /= row["n"]
        row["process"] /= row["n"]
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--tokens", default="1M")
    parser.add_argument("--trials", default="cpu,narrow,wide")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=40)
    parser.add_argument("--per-op", type=int, default=20, help="held-out problems per op for accuracy")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "runs" / "cpu-trials"))
    args = parser.parse_args()

    from interplay.lm.metrics import read_metrics

    summary = {}
    for name in args.trials.split(","):
        out = run_trial(name, args)
        rows = read_metrics(out)
        steps = [r for r in rows if "step_s" in r]
        timed = steps[3:] or steps  # the first steps include compilation and warm-up
        cpu_per_k = 1000 * sum(r["step_cpu_s"] for r in timed) / sum(r["tokens"] / r["step"] for r in timed)
        wall_per_k = 1000 * sum(r["step_s"] for r in timed) / sum(r["tokens"] / r["step"] for r in timed)
        final_eval = [r["eval"] for r in rows if "eval" in r][-1]
        summary[name] = {"cpu_s_per_1k_tokens": cpu_per_k, "wall_s_per_1k_tokens": wall_per_k,
                         "eval": final_eval, "accuracy": accuracy(out / "final", args.corpus, args.per_op)}
        print(json.dumps({name: summary[name]}), flush=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
