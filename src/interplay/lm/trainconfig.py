"""The training-run config (one schema for pre-training and mid-training), read from YAML.

    interplay pretrain configs/pretrain-tiny.yaml --out runs/tiny --set optim.lr=3e-3

Every field can be overridden with `--set section.field=value`; unknown fields are errors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.lm.configtools import apply_overrides, from_mapping, read_yaml, to_dict
from interplay.lm.presets import ModelConfig, model_config_from

STAGES = ("pretrain", "midtrain")
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


def parse_count(value: int | float | str | None, field_name: str) -> int | None:
    """`10B`, `250M`, `1.5e9`, `12_000` -> an integer count."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UserError(f"{field_name}: expected a count like 10B or 250M, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([kKmMbBgGtT]?)\s*(?:tokens)?\s*", value)
        if not m:
            raise UserError(f"{field_name}: expected a count like 10B or 250M, got {value!r}")
        number = float(m.group(1).replace("_", "")) * _SUFFIX[m.group(2).upper()]
    if number <= 0 or not math.isfinite(number):
        raise UserError(f"{field_name}: must be positive, got {value!r}")
    return int(round(number))


def check_op_range(ops: Any, name: str) -> None:
    """None (every op), or [lo, hi] integers with 1 <= lo <= hi: the op filter of training and RL data."""
    if ops is not None and (not isinstance(ops, (list, tuple)) or len(ops) != 2
                            or not all(isinstance(o, int) for o in ops) or not 1 <= ops[0] <= ops[1]):
        raise UserError(f"{name} must be [lo, hi] with 1 <= lo <= hi, got {ops!r}")


@dataclass
class DataConfig:
    path: str = ""  # corpus folder (`interplay corpus build`) or a JSONL file of records
    split: str = "pretrain"
    seq_len: int = 512  # tokens per training row
    max_documents: int | None = None  # use only the first N documents of the split
    loss_on: str = "all"  # all | solution (no loss on the question block)
    packing: str = "docs"  # docs (whole documents per row, padded) | stream (windows; documents may straddle rows)
    ops: list[int] | None = None  # [lo, hi]: train only on problems of these ops (e.g. mid-training on the edge)

    def validate(self) -> None:
        if not self.path:
            raise UserError("data.path: required (a corpus folder or a JSONL file of records)")
        check_op_range(self.ops, "data.ops")
        if self.seq_len < 8:
            raise UserError(f"data.seq_len must be at least 8, got {self.seq_len}")
        if self.max_documents is not None and self.max_documents <= 0:
            raise UserError("data.max_documents must be positive")
        if self.packing not in ("docs", "stream"):
            raise UserError(f"data.packing must be docs or stream, got {self.packing!r}")
        if self.loss_on not in ("all", "solution"):
            raise UserError(f"data.loss_on must be all or solution, got {self.loss_on!r}")


@dataclass
class EvalConfig:
    path: str | None = None  # default: data.path
    split: str = "eval"
    every: int = 100  # steps between held-out evaluations (0: only at the end)
    max_documents: int = 256  # evenly spaced over the split
    batch_size: int = 8  # rows per forward pass
    op_ranges: list[str] = field(default_factory=lambda: ["2-4", "5-7", "8-10"])

    def validate(self) -> None:
        if self.every < 0 or self.max_documents <= 0 or self.batch_size <= 0:
            raise UserError("eval.every must be >= 0, eval.max_documents and eval.batch_size positive")
        self.ranges()

    def ranges(self) -> list[tuple[str, int, int]]:
        out = []
        for text in self.op_ranges:
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", str(text))
            if not m:
                raise UserError(f"eval.op_ranges: {text!r} is not an op range like 2-4 or 7")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise UserError(f"eval.op_ranges: {text!r} is empty")
            out.append((f"op{lo}-{hi}" if hi > lo else f"op{lo}", lo, hi))
        return out


@dataclass
class OptimConfig:
    lr: float = 1e-3
    min_lr: float = 1e-4  # cosine decay ends here
    warmup_steps: int = 100  # linear warmup from 0
    weight_decay: float = 0.1  # on matrices and embeddings, not on norms and biases
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm (0: no clipping)

    def validate(self) -> None:
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise UserError(f"optim.lr must be positive and optim.min_lr in [0, lr]; got {self.lr}, {self.min_lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.eps <= 0:
            raise UserError("optim.warmup_steps, weight_decay and grad_clip must be >= 0, eps positive")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UserError("optim.beta1 and optim.beta2 must be in [0, 1)")


@dataclass
class TrainConfig:
    steps: int | None = None  # optimizer steps; or give a token budget:
    tokens: str | int | float | None = None  # e.g. "10B", "250M"
    batch_size: int = 16  # rows per optimizer step, over all processes (the effective batch)
    micro_batch_size: int = 8  # rows per forward pass in one process (gradient accumulation)
    seed: int = 0
    dtype: str = "auto"  # auto (fp32 on CPU, bf16 on GPU) | float32 | bfloat16
    compile: str | bool = "auto"  # torch.compile: auto (on GPU only) | true | false
    impl: str = "fast"  # fast (our Qwen2 module) | hf (transformers' Qwen2ForCausalLM)
    threads: int | None = None  # torch threads on CPU (default: all cores)
    peak_tflops: float | None = None  # for MFU; default: measured (CPU) or the GPU's datasheet bf16 peak

    def validate(self) -> None:
        if (self.steps is None) == (self.tokens is None):
            raise UserError("train: give exactly one of train.steps and train.tokens")
        if self.steps is not None and self.steps <= 0:
            raise UserError(f"train.steps must be positive, got {self.steps}")
        parse_count(self.tokens, "train.tokens")
        if self.batch_size <= 0 or self.micro_batch_size <= 0:
            raise UserError("train.batch_size and train.micro_batch_size must be positive")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise UserError(f"train.dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.compile not in ("auto", True, False):
            raise UserError(f"train.compile must be auto, true or false, got {self.compile!r}")
        if self.impl not in ("fast", "hf"):
            raise UserError(f"train.impl must be fast or hf, got {self.impl!r}")
        if self.threads is not None and self.threads <= 0:
            raise UserError("train.threads must be positive")


@dataclass
class CheckpointConfig:
    every: int = 500  # steps between checkpoints (0: only the final one)
    keep: int = 2  # newest checkpoints kept in DIR/checkpoints/

    def validate(self) -> None:
        if self.every < 0 or self.keep < 1:
            raise UserError("checkpoint.every must be >= 0 and checkpoint.keep >= 1")


@dataclass
class LogConfig:
    every: int = 1  # steps between log lines (metrics.jsonl gets every step)
    tensorboard: bool = True  # if the tensorboard package is installed

    def validate(self) -> None:
        if self.every <= 0:
            raise UserError("log.every must be positive")


@dataclass
class RunConfig:
    stage: str = "pretrain"
    model: ModelConfig | None = None  # preset name or fields; midtrain takes the init checkpoint's
    tokenizer: str | None = None  # tokenizer folder; midtrain takes the init checkpoint's
    init: str | None = None  # checkpoint folder to start from (required for midtrain)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise UserError(f"stage must be one of {', '.join(STAGES)}")
        if self.stage == "pretrain":
            if self.model is None:
                raise UserError("model: required for pretrain (a preset name: tiny, cpu, small, paper)")
            if not self.tokenizer:
                raise UserError("tokenizer: required for pretrain (a folder from `interplay tokenizer train`)")
        if self.stage == "midtrain" and not self.init:
            raise UserError("init: required for midtrain (the checkpoint folder to start from)")
        for section in (self.data, self.eval, self.optim, self.train, self.checkpoint, self.log):
            section.validate()
        if self.model is not None and self.data.seq_len > self.model.max_position_embeddings:
            raise UserError(f"data.seq_len ({self.data.seq_len}) exceeds model.max_position_embeddings "
                            f"({self.model.max_position_embeddings})")

    def total_steps(self) -> int:
        if self.train.steps is not None:
            return self.train.steps
        tokens = parse_count(self.train.tokens, "train.tokens")
        assert tokens is not None
        return max(1, math.ceil(tokens / (self.train.batch_size * self.data.seq_len)))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


# Fields that may change when a run is resumed: they do not change what is computed.
RESUMABLE_CHANGES = {"log", "checkpoint.every", "checkpoint.keep", "eval.every", "train.threads", "train.compile",
                     "train.peak_tflops", "model.preset"}


def load_run_config(path: str | Path | None, stage: str, overrides: list[str]) -> RunConfig:
    data = read_yaml(path, "config") if path is not None else {}
    data = apply_overrides(data, list(overrides))
    data["stage"] = stage
    model = data.pop("model", None)
    cfg = from_mapping(RunConfig, data)
    if model is not None:
        cfg.model = model_config_from(model, "model")
    cfg.validate()
    return cfg


def resumable_change(name: str) -> bool:
    """Whether the dotted field `name` is one of RESUMABLE_CHANGES or inside one (`log.every`)."""
    return any(name == f or name.startswith(f + ".") for f in RESUMABLE_CHANGES)


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of fields that differ, ignoring RESUMABLE_CHANGES."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if resumable_change(name):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, name + ".")
        elif a != b:
            diffs.append(f"{name} ({a!r} -> {b!r})")
    return diffs
