"""Training metrics: one fixed-width line per step, JSONL rows, TensorBoard scalars, MFU.

`DIR/metrics.jsonl` holds one row per optimizer step (`{"step", "loss", "lr", ...}`) and one per
held-out evaluation (`{"step", "eval": {...}}`). On resume, rows after the checkpoint's step are
dropped first, so an interrupted-and-resumed run leaves the same rows as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

# Dense bf16 datasheet peaks (FLOP/s) of GPUs we may be lent; others are measured.
GPU_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12}


def measure_matmul_peak(device: str = "cpu", dtype=None, n: int = 2048, repeats: int = 5, clock=time.perf_counter) -> float:
    """FLOP/s of the best of `repeats` large square matmuls (the machine's practical peak).

    `clock=time.process_time` gives FLOPs per CPU-second of this process instead (divide by the
    thread count's reciprocal yourself): steadier than wall time on a CPU shared with others.
    """
    import torch

    dtype = dtype or torch.float32
    # Its own generator: measuring must not move the global RNG a training run draws from.
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        t = clock()
        torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, clock() - t)
    return 2 * n**3 / best


def peak_flops(device: str, dtype, override_tflops: float | None) -> tuple[float, str]:
    """(FLOP/s, how it was obtained) for MFU."""
    if override_tflops:
        return override_tflops * 1e12, "config"
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name()
        for key, value in GPU_BF16_PEAK.items():
            if key in name and dtype == torch.bfloat16:
                return value, f"datasheet {key} bf16"
        return measure_matmul_peak(device, dtype, n=8192), f"measured {name}"
    return measure_matmul_peak("cpu", dtype, n=2048), "measured fp32 torch.mm 2048"


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--:--"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def step_line(step: int, total: int, loss: float, lr: float, tok_s: float, mfu: float, elapsed: float, eta: float) -> str:
    width = len(str(total))
    return (
        f"step {step:>{width}}/{total} | loss {loss:8.4f} | lr {lr:9.3e} | tok/s {tok_s:9.0f} | "
        f"MFU {100 * mfu:5.1f}% | elapsed {format_duration(elapsed)} | ETA {format_duration(eta)}"
    )


def eval_line(step: int, losses: dict[str, float]) -> str:
    """`eval step N | op2-4 1.2345 (sol 0.4567) | ... | all ...`: all target tokens, then solution tokens."""
    parts = []
    for key, value in losses.items():
        if key.endswith("/solution"):
            continue
        sol = losses.get(f"{key}/solution")
        parts.append(f"{key} {value:7.4f}" + (f" (sol {sol:6.4f})" if sol is not None else ""))
    return f"eval step {step} | " + " | ".join(parts)


class MetricsWriter:
    """Appends JSONL rows (and TensorBoard scalars) for one run folder; only rank 0 makes one."""

    def __init__(self, out: Path, resume_step: int, tensorboard: bool):
        self.path = out / "metrics.jsonl"
        if self.path.is_file():
            self._truncate_after(resume_step)
        self.file = self.path.open("a", encoding="utf-8")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard not installed: JSONL only
                SummaryWriter = None
            if SummaryWriter is not None:
                self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def _truncate_after(self, step: int) -> None:
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and _row_step(line) is not None and _row_step(line) <= step]
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.tb is not None:
            step = row["step"]
            for key, value in row.items():
                if key == "eval":
                    for name, v in value.items():
                        self.tb.add_scalar(f"eval/{name}", v, step)
                elif key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(f"train/{key}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _row_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):  # a line cut by a kill: drop it
        return None


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = Path(out) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
