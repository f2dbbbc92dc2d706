"""Where a training step's time goes: torch profiler over a few steps of `interplay pretrain`'s loop.

    .venv/bin/python bench/profile_train.py --preset cpu-wide --batch 32 --micro-batch 16 --steps 3
    .venv/bin/python bench/profile_train.py ... --kernels     # one row per inductor kernel (slower)

A short run first warms the compile caches, so the profiled steps are steady-state steps; the table is
sorted by self CPU time (the calling thread's time in each op: matmuls, attention, inductor's fused
elementwise graphs). Data and tokenizer are bench_train.py's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu-wide")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eager", action="store_true", help="train.compile false")
    parser.add_argument("--kernels", action="store_true", help="profile each inductor kernel separately")
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--out", default=str(ROOT.parent / "runs" / "bench-train"))
    args = parser.parse_args()

    import torch
    import torch._inductor.config as inductor_config
    from torch.profiler import ProfilerActivity, profile

    from bench_train import prepare
    from interplay.lm.train import train
    from interplay.lm.trainconfig import load_run_config

    inductor_config.cpp.enable_kernel_profile = args.kernels
    data, tok = prepare(Path(args.out), range(2, 11), 300)

    def config(steps: int):
        return load_run_config(None, "pretrain", [
            f"model={args.preset}", f"tokenizer={tok}", f"data.path={data}", f"eval.path={data}",
            f"data.seq_len={args.seq_len}", f"train.steps={steps}", f"train.batch_size={args.batch}",
            f"train.micro_batch_size={args.micro_batch}", f"train.threads={args.threads}",
            f"train.compile={'false' if args.eager else 'true'}", "train.peak_tflops=1", "checkpoint.every=0",
            "eval.every=0", "eval.max_documents=8", "log.every=1000000", "log.tensorboard=false",
            "optim.warmup_steps=2"])

    run = Path(args.out) / "profile-run"
    shutil.rmtree(run, ignore_errors=True)
    train(config(2), run)  # compile (or load the compiled graphs) outside the profile
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train(config(args.steps), run)
    print(f"{args.steps} steps profiled in {time.perf_counter() - t0:.1f} s wall (torch {torch.__version__})")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
