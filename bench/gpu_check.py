"""The GPU checks of issues 4, 5 and 7 as one prepared run, for a session that is lent a GPU machine.

    python3 bench/gpu_check.py --out "$OUT"              # on the GPU machine, from the repository root
    python bench/gpu_check.py --out /tmp/gpu --quick     # the same steps at CPU size: checks this script

No install is needed there: the script puts `src/` on PYTHONPATH, and the device image already holds
torch, transformers, tokenizers, pyarrow, PyYAML, tqdm and matplotlib. Each step runs as its own
process with a time limit, keeps its log in --out, and adds its figures to --out/summary.json as soon
as it ends, so a step that runs out of time still leaves the earlier ones' results. About 7-8 minutes
on one H200 (the device tool's limit is 10 minutes a command):

1. environment: GPU, torch and transformers versions, a bf16 8192^3 matmul's TFLOP/s;
2. a small corpus in the paper's world (corpus-paper.yaml's world and op mixture, 20,000 pre-training
   problems) and its tokenizer;
3. the `paper` preset's pre-training (configs/pretrain-paper.yaml unchanged: 100M Qwen2, 256 x 2048
   tokens a step, bf16, torch.compile) for --train-steps steps: median tokens/s and MFU after the first
   steps (compilation), and the GPU-hours 10B tokens would take at that rate (issue 4: MFU >= 40%);
4. our sampler vs transformers' `generate` on a paper-sized model in bf16 (bench_sampler.py; issue 5 asks
   for vLLM, which the device image lacks and whose wheel is too large to carry);
5. the first GRPO steps of configs/rl-paper.yaml with --rl-prompts prompts (its 6 rollouts, 1024 new
   tokens at most) from the step-3 model: seconds per step, scaled to the recipe's 1024 prompts;
6. with two or more GPUs, the same pre-training under `torchrun --nproc_per_node 2` (NCCL needs one GPU
   per process, so one GPU cannot run it; the two-process path is tested on CPU with gloo in the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_TOKENS = 10e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for logs, runs and summary.json")
    parser.add_argument("--quick", action="store_true", help="CPU-sized settings, to check the script itself")
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--rl-prompts", type=int, default=128)
    parser.add_argument("--deadline", type=float, default=540, help="seconds for the whole run")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    work = out / "work" if args.quick else Path("/tmp/interplay-gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)  # a rerun on a warm machine starts from nothing, not a resume
    work.mkdir(parents=True)
    check = Check(out, work, time.monotonic() + args.deadline)

    check.environment(args.quick)
    corpus, tokenizer = work / "corpus", work / "tokenizer"
    ok = check.step("corpus", ["corpus", "build", str(small_corpus(work, args.quick)), "--out", str(corpus),
                               "--workers", str(os.cpu_count() or 1), "--no-progress"], limit=180)
    ok = ok and check.step("tokenizer", ["tokenizer", "train", "--corpus", str(corpus), "--out", str(tokenizer),
                                         "--split", "pretrain", "--sample", "2000" if args.quick else "20000"], limit=120)
    if ok:
        steps = 4 if args.quick else args.train_steps
        pre = work / "pretrain"
        if check.step("pretrain", ["pretrain", "configs/pretrain-paper.yaml", "--out", str(pre),
                                   *pretrain_sets(tokenizer, corpus, steps, args.quick)], limit=300):
            check.training_figures("pretrain", pre / "metrics.jsonl", skip=1 if args.quick else 5)
            check.rl(pre / "final", corpus, 4 if args.quick else args.rl_prompts, args.quick)
        check.sampler(args.quick)
        if not args.quick and gpu_count() >= 2:
            check.step("torchrun-2", ["pretrain", "configs/pretrain-paper.yaml", "--out", str(work / "pretrain-ddp"),
                                      *pretrain_sets(tokenizer, corpus, 8, False)], limit=240,
                       launcher=["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "interplay"])
            check.training_figures("torchrun-2", work / "pretrain-ddp" / "metrics.jsonl", skip=3)
    print(json.dumps(check.summary, indent=2))
    return 0 if all(s.get("rc", 0) == 0 for s in check.summary["steps"].values()) else 1


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def small_corpus(work: Path, quick: bool) -> Path:
    """corpus-paper.yaml with its world and op mixture, at a size that builds in seconds."""
    import yaml

    cfg = yaml.safe_load((ROOT / "configs" / "corpus-paper.yaml").read_text())
    cfg["shard_size"] = 10_000
    pre = cfg["splits"]["pretrain"]
    pre.pop("tokens")
    pre["problems"] = 2_000 if quick else 20_000
    cfg["splits"] = {"pretrain": pre,
                     "rl": {**cfg["splits"]["rl"], "problems": 400 if quick else 4_000},
                     "eval": {**cfg["splits"]["eval"], "per_cell": 2}}
    if quick:  # small ops only: the tiny model's prompts must fit its short rollouts
        pre["mixture"] = [{"ops": [2, 4], "weight": 1.0}]
        cfg["splits"]["rl"]["ops"] = [2, 4]
        cfg["splits"]["eval"]["ops"] = [2, 4]
    path = work / "corpus.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def pretrain_sets(tokenizer: Path, corpus: Path, steps: int, quick: bool) -> list[str]:
    sets = [f"tokenizer={tokenizer}", f"data.path={corpus}", f"train.steps={steps}", "train.tokens=null",
            "eval.every=0", "eval.max_documents=64", "checkpoint.every=0", "log.every=1", "optim.warmup_steps=5"]
    if quick:
        sets += ["model={preset: tiny}", "data.seq_len=256", "train.batch_size=8", "train.micro_batch_size=8",
                 "train.threads=2", "eval.batch_size=8", "eval.op_ranges=[2-4]"]
    return [a for s in sets for a in ("--set", s)]


class Check:
    def __init__(self, out: Path, work: Path, deadline: float):
        self.out, self.work, self.deadline = out, work, deadline
        self.summary: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": {}}
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                    "PYTHONUNBUFFERED": "1"}

    def save(self) -> None:
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n")

    def record(self, name: str, **values) -> None:
        self.summary["steps"].setdefault(name, {}).update(values)
        self.save()

    def step(self, name: str, argv: list[str], limit: float, launcher: list[str] | None = None,
             script: bool = False) -> bool:
        """Run one command (an `interplay` subcommand, or a script with `script`), log to NAME.log."""
        left = self.deadline - time.monotonic()
        if left < 20:
            self.record(name, rc=None, skipped=f"no time left ({left:.0f} s before the deadline)")
            return False
        cmd = [sys.executable, *argv] if script else [*(launcher or [sys.executable, "-m", "interplay"]), *argv]
        t0 = time.monotonic()
        with open(self.out / f"{name}.log", "w") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            try:
                rc = subprocess.run(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=min(limit, left)).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        self.record(name, rc=rc, wall_s=round(time.monotonic() - t0, 1))
        print(f"{name}: rc {rc} in {time.monotonic() - t0:.1f} s", flush=True)
        return rc == 0

    def environment(self, quick: bool) -> None:
        import torch
        import transformers

        env = {"torch": torch.__version__, "transformers": transformers.__version__, "gpus": gpu_count()}
        if torch.cuda.is_available():
            sys.path.insert(0, str(ROOT / "src"))
            from interplay.lm.metrics import measure_matmul_peak

            env["gpu"] = torch.cuda.get_device_name()
            env["bf16_matmul_tflops"] = round(measure_matmul_peak("cuda", torch.bfloat16, n=8192) / 1e12, 1)
        self.summary["environment"] = env
        self.save()

    def training_figures(self, name: str, metrics: Path, skip: int) -> None:
        """Median tokens/s, MFU and step time over the steps after the first `skip` (compilation, warm-up)."""
        rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
        rows = [r for r in rows if "tok_per_s" in r][skip:]
        if not rows:
            self.record(name, figures="no step rows in metrics.jsonl")
            return
        tok_s = statistics.median(r["tok_per_s"] for r in rows)
        self.record(name, steps_timed=len(rows), tokens_per_s=round(tok_s),
                    mfu=round(statistics.median(r["mfu"] for r in rows), 4),
                    step_s=round(statistics.median(r["step_s"] for r in rows), 3),
                    device_hours_for_10B_tokens=round(PAPER_TOKENS / tok_s / 3600, 1))

    def rl(self, init: Path, corpus: Path, prompts: int, quick: bool) -> None:
        run = self.work / "rl"
        sets = [f"init={init}", f"data.path={corpus}", "data.ops=[2, 4]" if quick else "data.ops=[2, 10]",
                "train.steps=2", f"rollout.prompts={prompts}", f"grpo.mini_batch_prompts={max(1, prompts // 4)}",
                "checkpoint.every=0", "log.tensorboard=false"]
        if quick:
            sets += ["rollout.rollouts=2", "rollout.max_new_tokens=32", "rollout.max_prompt_tokens=256",
                     "grpo.micro_batch_size=4", "train.threads=2"]
        if not self.step("rl", ["rl", "configs/rl-paper.yaml", "--out", str(run),
                                *[a for s in sets for a in ("--set", s)]], limit=240):
            return
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        times = [r["time/step_s"] for r in rows if "time/step_s" in r]
        if times:
            self.record("rl", prompts=prompts, step_s=[round(t, 2) for t in times],
                        step_s_scaled_to_1024_prompts=round(times[-1] * 1024 / prompts, 1),
                        # the learner's share of a step: its per-prompt and per-completion attention calls
                        # were measured on CPU only (BENCHMARKS.md, "RL"); many small kernels may cost on GPU
                        train_share=[r.get("time/train_share") for r in rows if "time/train_share" in r],
                        completions_mean_length=[r.get("completions/mean_length") for r in rows
                                                 if "completions/mean_length" in r])

    def sampler(self, quick: bool) -> None:
        shape = (["--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
                  "--batch", "8", "--new-tokens", "16", "--runs", "1", "--threads", "2"] if quick else
                 ["--hidden", "768", "--layers", "12", "--heads", "12", "--kv-heads", "2", "--ffn", "3072",
                  "--vocab", "2240", "--batch", "768", "--new-tokens", "512", "--runs", "2",
                  "--device", "cuda", "--dtype", "bfloat16"])
        if self.step("sampler", ["bench/bench_sampler.py", *shape], limit=240, script=True):
            text = (self.out / "sampler.log").read_text()
            result = json.loads(text[text.index("\n{") + 1:])
            self.record("sampler", **{k: result.get(k) for k in ("machine", "params", "speedup")},
                        interplay_tokens_per_s=result["interplay"]["tokens_per_s"],
                        transformers_tokens_per_s=result["transformers"]["tokens_per_s"],
                        seconds={k: result[k]["seconds"] for k in ("interplay", "transformers")})


if __name__ == "__main__":
    sys.exit(main())
