"""Training throughput: our loop vs Hugging Face's Trainer, as tokens/s and MFU, in one run.

    .venv/bin/python bench/bench_train.py --preset cpu --threads 2 --repeats 3

Both train the same Qwen2 model (same preset, vocabulary, initial weights) on the same packed rows
(documents from the world generator, positions restarting per document) with the same batch,
gradient accumulation, AdamW and schedule, fp32 on CPU. MFU counts FLOPs per token as nanoGPT does
(6 x parameters excluding the input embedding but including the tied output head, + 12 L d T for
attention) against the machine's fp32 matmul peak, measured in this run (best large `torch.mm`)
before every measurement, because the CPU is shared. Variants run interleaved, `--repeats` times,
and medians are reported; the ratio is the median of per-repeat ratios. Every figure is given twice:
by wall clock, and by this process's CPU time divided by the thread count (peak measured the same
way), which is far less disturbed by other programs on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare(out: Path, ops: range, per_op: int):
    from interplay.cli import main
    from interplay.lm.fixtures import sample_records, write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    data = out / "records.jsonl"
    if not data.is_file():
        write_jsonl(sample_records(ops, per_op=per_op, seed=0), data)
    if not (out / "tok" / "tokenizer.json").is_file():
        assert main(["tokenizer", "train", "--corpus", str(data), "--out", str(out / "tok")]) == 0
    return data, out / "tok"


def run_ours(args, data: Path, tok: Path, out: Path, compile_on: bool, dtype: str = "float32") -> list[tuple[float, float]]:
    """(wall, CPU) seconds per optimizer step of `interplay pretrain` (steps after the first `--skip`)."""
    import shutil

    from interplay.lm.metrics import read_metrics
    from interplay.lm.train import train
    from interplay.lm.trainconfig import load_run_config

    shutil.rmtree(out, ignore_errors=True)
    overrides = [
        f"model={args.preset}", f"tokenizer={tok}", f"data.path={data}", f"eval.path={data}",
        f"data.seq_len={args.seq_len}", f"train.steps={args.steps}", f"train.batch_size={args.batch}",
        f"train.micro_batch_size={args.micro_batch}", f"train.threads={args.threads}",
        f"train.compile={'true' if compile_on else 'false'}", f"train.dtype={dtype}", "train.peak_tflops=1",
        "checkpoint.every=0",
        "eval.every=0", "eval.max_documents=8", "log.every=1000000", "log.tensorboard=false",
        "optim.warmup_steps=2",
    ]
    cfg = load_run_config(None, "pretrain", overrides)
    train(cfg, out)
    rows = [r for r in read_metrics(out) if "step_s" in r]
    return [(r["step_s"], r["step_cpu_s"]) for r in rows[args.skip:]]


def run_trainer(args, data: Path, tok: Path, out: Path) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per optimizer step of transformers.Trainer on the same model, rows and settings."""
    import numpy as np
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from interplay.lm.model import build_model
    from interplay.lm.packing import IGNORE, DocRows, build_or_load_cache
    from interplay.lm.presets import load_preset
    from interplay.lm.tokenizer import load_tokenizer

    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(tok)
    cfg = load_preset(args.preset)
    model = build_model(cfg, len(tokenizer), impl="hf", seed=0).hf  # same initial weights as ours
    cache = build_or_load_cache(out / "cache", tokenizer, data, "pretrain", None, "data")
    rows = DocRows(cache, args.seq_len, seed=0, pad_id=tokenizer.pad_token_id)  # as `interplay pretrain`

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return args.steps * args.batch

        def __getitem__(self, i):
            r = rows.rows([i])
            # transformers shifts labels inside the model: give it targets aligned with the inputs.
            labels = np.full(args.seq_len, IGNORE, dtype=np.int64)
            labels[1:] = r["labels"][0, :-1]
            return {"input_ids": torch.from_numpy(r["input_ids"][0]), "position_ids": torch.from_numpy(r["position_ids"][0]),
                    "labels": torch.from_numpy(labels)}

    times: list[tuple[float, float]] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, *a, **k):
            times.append((time.perf_counter() - self.t, time.process_time() - self.c))

    targs = TrainingArguments(
        output_dir=str(out / "trainer"), per_device_train_batch_size=args.micro_batch,
        gradient_accumulation_steps=args.batch // args.micro_batch, max_steps=args.steps, learning_rate=1e-3,
        weight_decay=0.1, adam_beta2=0.95, warmup_steps=2, lr_scheduler_type="cosine", max_grad_norm=1.0,
        logging_strategy="no", save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
        seed=0, disable_tqdm=True, optim="adamw_torch_fused",
    )
    Trainer(model=model, args=targs, train_dataset=Rows(), callbacks=[Timer()]).train()
    return times[args.skip:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16, help="rows per optimizer step")
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--skip", type=int, default=3, help="first steps not timed (warm-up, compilation)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="ours-compiled,ours,trainer",
                        help="comma-separated: ours-compiled, ours (eager), trainer; a '-bf16' suffix on ours-compiled or "
                             "ours trains under bf16 autocast (its MFU is still against the fp32 peak)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-train"))
    args = parser.parse_args()

    import torch

    from interplay.lm.metrics import measure_matmul_peak
    from interplay.lm.presets import flops_per_token, load_preset
    from interplay.lm.tokenizer import load_tokenizer

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data, tok = prepare(out, range(2, 11), per_op=300)
    vocab = len(load_tokenizer(tok))
    fpt = flops_per_token(load_preset(args.preset), vocab, args.seq_len)
    tokens_per_step = args.batch * args.seq_len
    variants = args.variants.split(",")
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for rep in range(args.repeats):
        for variant in variants:
            peak = max(measure_matmul_peak(n=2048, repeats=3), measure_matmul_peak(n=4096, repeats=2))
            # The same, per CPU-second of this process x threads: what the run would see on idle cores.
            peak_cpu = args.threads * max(measure_matmul_peak(n=2048, repeats=3, clock=time.process_time),
                                          measure_matmul_peak(n=4096, repeats=2, clock=time.process_time))
            if variant == "trainer":
                times = run_trainer(args, data, tok, out / variant)
            else:
                base = variant.removesuffix("-bf16")
                if base not in ("ours", "ours-compiled"):
                    parser.error(f"unknown variant {variant!r}")
                times = run_ours(args, data, tok, out / variant, compile_on=base == "ours-compiled",
                                 dtype="bfloat16" if variant.endswith("-bf16") else "float32")
            step_s = statistics.median(t for t, _ in times)
            step_cpu_s = statistics.median(c for _, c in times) / args.threads
            tok_s, tok_s_cpu = tokens_per_step / step_s, tokens_per_step / step_cpu_s
            row = {"repeat": rep, "peak_gflops": peak / 1e9, "step_s": step_s, "tok_s": tok_s, "mfu": fpt * tok_s / peak,
                   "peak_cpu_gflops": peak_cpu / 1e9, "step_cpu_s": step_cpu_s, "tok_s_cpu": tok_s_cpu,
                   "mfu_cpu": fpt * tok_s_cpu / peak_cpu}
            results[variant].append(row)
            print(json.dumps({"variant": variant} | row), flush=True)

    print()
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}; "
          f"preset {args.preset}, vocab {vocab}, seq_len {args.seq_len}, batch {args.batch} rows "
          f"(micro-batch {args.micro_batch}), {args.steps} steps, first {args.skip} untimed, {args.repeats} repeats")
    print(f"FLOPs/token (nanoGPT): {fpt:,}")
    print("Wall clock, and CPU time of this process / threads (steadier when others share the CPU):")
    print("| variant | tok/s | MFU | peak GFLOP/s | vs trainer | tok/CPU-s x threads | MFU (CPU time) | peak (CPU time) | vs trainer (CPU time) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = statistics.median
    for variant in variants:
        rows = results[variant]
        ratio = ratio_cpu = ""
        if "trainer" in results and variant != "trainer":
            ratio = f"{med(a['tok_s'] / b['tok_s'] for a, b in zip(rows, results['trainer'])):.2f}x"
            ratio_cpu = f"{med(a['tok_s_cpu'] / b['tok_s_cpu'] for a, b in zip(rows, results['trainer'])):.2f}x"
        print(f"| {variant} | {med(r['tok_s'] for r in rows):.0f} | {100 * med(r['mfu'] for r in rows):.1f}% | "
              f"{med(r['peak_gflops'] for r in rows):.1f} | {ratio} | {med(r['tok_s_cpu'] for r in rows):.0f} | "
              f"{100 * med(r['mfu_cpu'] for r in rows):.1f}% | {med(r['peak_cpu_gflops'] for r in rows):.1f} | {ratio_cpu} |")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
