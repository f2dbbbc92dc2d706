"""The RL run config, read from YAML with `--set section.field=value` overrides.

    interplay rl configs/rl-tiny.yaml --out runs/rl --set reward.name=strict --set rollout.rollouts=8

Everything that can be checked without loading a model is checked here, before any compute:
unknown fields, the reward name and its parameters, r >= 2, batch divisibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.lm.configtools import apply_overrides, from_mapping, read_yaml, to_dict
from interplay.lm.trainconfig import CheckpointConfig, LogConfig, check_op_range

SELECT_MODES = ("all", "edge")
EDGE_METRICS = ("outcome", "process")
MODES = ("forward", "reverse")


@dataclass
class EdgeConfig:
    """The edge-of-competence filter: keep problems the model fails at pass@1 yet solves at pass@k.

    Each candidate gets `samples` completions at `temperature`; with c correct (by `metric`:
    outcome = right answer, process = right answer and every gold step), the unbiased estimates
    are pass@1 = c / n and pass@k = 1 − C(n − c, k) / C(n, k). A problem is kept when
    pass@1 <= max_pass1 and pass@k >= min_passk.
    """

    candidates: int = 512  # problems examined per selection (drawn from the filtered split)
    samples: int = 16  # n completions per candidate
    k: int = 16
    max_pass1: float = 0.25  # the evaluation package's defaults (interplay.evaluate.ladder)
    min_passk: float = 0.5
    metric: str = "process"
    temperature: float = 1.0

    def validate(self) -> None:
        if self.candidates < 1 or self.samples < 1:
            raise UserError("data.edge.candidates and data.edge.samples must be positive")
        if not 1 <= self.k <= self.samples:
            raise UserError(f"data.edge.k must be in [1, data.edge.samples={self.samples}], got {self.k}")
        if not (0.0 <= self.max_pass1 <= 1.0 and 0.0 <= self.min_passk <= 1.0):
            raise UserError("data.edge.max_pass1 and data.edge.min_passk must be in [0, 1]")
        if self.metric not in EDGE_METRICS:
            raise UserError(f"data.edge.metric must be one of {', '.join(EDGE_METRICS)}, got {self.metric!r}")
        if not self.temperature > 0:
            raise UserError(f"data.edge.temperature must be > 0, got {self.temperature}")


@dataclass
class RLDataConfig:
    path: str = ""  # corpus folder (`interplay corpus build`) or a JSONL file of problem records
    split: str = "rl"
    ops: list[int] | None = None  # [lo, hi] inclusive; null = every op in the split
    contexts: dict[str, float] | None = None  # mix weights per context, e.g. {zoo: 0.9, school: 0.1}; null = as found
    modes: list[str] | None = None  # forward / reverse; null = both
    max_problems: int | None = None  # keep the first N problems that pass the filters
    select: str = "all"  # all | edge (the edge-of-competence filter, below)
    reselect_every: int = 0  # with select: edge, re-run the filter every M steps (0 = once, at the start)
    edge: EdgeConfig = field(default_factory=EdgeConfig)

    def validate(self) -> None:
        if not self.path:
            raise UserError("data.path: required (a corpus folder or a JSONL file of problem records)")
        check_op_range(self.ops, "data.ops")
        if self.contexts is not None:
            if not self.contexts:
                raise UserError("data.contexts: give at least one context weight (or null for all)")
            for name, weight in self.contexts.items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                    raise UserError(f"data.contexts.{name}: weight must be a number >= 0, got {weight!r}")
            if sum(self.contexts.values()) <= 0:
                raise UserError("data.contexts: weights must not all be 0")
        if self.modes is not None:
            bad = [m for m in self.modes if m not in MODES]
            if bad or not self.modes:
                raise UserError(f"data.modes must be a non-empty list of {', '.join(MODES)}, got {self.modes}")
        if self.max_problems is not None and self.max_problems < 1:
            raise UserError("data.max_problems must be positive")
        if self.select not in SELECT_MODES:
            raise UserError(f"data.select must be one of {', '.join(SELECT_MODES)}, got {self.select!r}")
        if self.reselect_every < 0:
            raise UserError("data.reselect_every must be >= 0")
        if self.reselect_every and self.select != "edge":
            raise UserError("data.reselect_every needs data.select: edge (re-selection re-runs the edge filter)")
        self.edge.validate()


@dataclass
class RolloutConfig:
    prompts: int = 1024  # N prompts per RL step
    rollouts: int = 6  # r completions per prompt (the group)
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 1024  # response length limit
    max_prompt_tokens: int = 1024  # longer prompts are left out of the pool (counted in the log)
    max_batch_rows: int = 128  # rows the sampler decodes together
    dtype: str = "auto"  # sampler weights: auto (fp32 on CPU, bf16 on GPU) | float32 | bfloat16

    def validate(self) -> None:
        if self.prompts < 1:
            raise UserError(f"rollout.prompts must be positive, got {self.prompts}")
        if self.rollouts < 2:
            raise UserError(f"rollout.rollouts must be >= 2 (GRPO's advantage compares the rollouts of one "
                            f"prompt), got {self.rollouts}")
        if not self.temperature > 0:
            raise UserError(f"rollout.temperature must be > 0 (GRPO samples), got {self.temperature}")
        if self.top_p != 1 or self.top_k != 0:
            # GRPO's ratio and KL need the log-probability of the distribution each rollout was sampled
            # from; a truncated one (top-p, top-k) is not what the learner scores, so the update would be
            # off-policy without a correction. Temperature is fine: the learner divides by it too.
            raise UserError(f"rollout.top_p must be 1 and rollout.top_k 0 for RL (got {self.top_p}, {self.top_k}): "
                            f"the learner scores the full softmax the rollouts are sampled from; use "
                            f"rollout.temperature to sharpen or flatten it")
        if self.max_new_tokens < 1 or self.max_prompt_tokens < 1 or self.max_batch_rows < 1:
            raise UserError("rollout.max_new_tokens, max_prompt_tokens and max_batch_rows must be positive")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise UserError(f"rollout.dtype must be auto, float32 or bfloat16, got {self.dtype!r}")


@dataclass
class GRPOConfig:
    mini_batch_prompts: int = 256  # prompts per optimiser step (all r rollouts of each); N / this = updates per step
    micro_batch_size: int = 16  # sequences per forward/backward pass (memory only; not the maths)
    epochs: int = 1  # passes over each rollout batch
    clip_low: float = 0.2  # ε_low: ratio floor 1 − ε_low
    clip_high: float = 0.2  # ε_high: ratio ceiling 1 + ε_high
    kl_coef: float = 1e-3  # β of the k3 KL loss to the reference model; 0 = no reference pass
    normalize_std: bool = True  # divide advantages by the group's std
    std_eps: float = 1e-6
    share_prompts: bool = True  # encode a prompt once for all its rollouts (same maths, less work)

    def validate(self) -> None:
        if self.mini_batch_prompts < 1 or self.micro_batch_size < 1 or self.epochs < 1:
            raise UserError("grpo.mini_batch_prompts, grpo.micro_batch_size and grpo.epochs must be positive")
        if not (0 <= self.clip_low < 1 and self.clip_high >= 0):
            raise UserError("grpo.clip_low must be in [0, 1) and grpo.clip_high >= 0")
        if self.kl_coef < 0:
            raise UserError(f"grpo.kl_coef must be >= 0 (0 disables the reference model), got {self.kl_coef}")
        if self.std_eps <= 0:
            raise UserError("grpo.std_eps must be positive")


@dataclass
class RLOptimConfig:
    lr: float = 1e-6  # constant after warm-up
    warmup_steps: int = 0  # RL steps of linear warm-up from 0 (every optimiser step of an RL step shares its lr)
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm (0: no clipping)

    def validate(self) -> None:
        if not self.lr > 0:
            raise UserError(f"optim.lr must be positive, got {self.lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.eps <= 0:
            raise UserError("optim.warmup_steps, weight_decay and grad_clip must be >= 0, eps positive")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UserError("optim.beta1 and optim.beta2 must be in [0, 1)")


@dataclass
class RLTrainConfig:
    steps: int = 200  # RL steps (rollout batches)
    seed: int = 0
    dtype: str = "auto"  # auto (fp32 on CPU, bf16 autocast on GPU) | float32 | bfloat16
    impl: str = "fast"  # fast | hf (see interplay.lm.model)
    threads: int | None = None  # torch threads on CPU (default: all cores)

    def validate(self) -> None:
        if self.steps < 1:
            raise UserError(f"train.steps must be positive, got {self.steps}")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise UserError(f"train.dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.impl not in ("fast", "hf"):
            raise UserError(f"train.impl must be fast or hf, got {self.impl!r}")
        if self.threads is not None and self.threads < 1:
            raise UserError("train.threads must be positive")


@dataclass
class RLConfig:
    init: str = ""  # the policy's starting checkpoint (an HF folder from pretrain / midtrain)
    reference: str | None = None  # the KL reference; default: init. Must be the same model shape and tokenizer.
    reward: dict[str, Any] = field(default_factory=lambda: {"name": "outcome"})  # name + the reward's parameters
    data: RLDataConfig = field(default_factory=RLDataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    optim: RLOptimConfig = field(default_factory=RLOptimConfig)
    train: RLTrainConfig = field(default_factory=RLTrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every=20, keep=2))
    log: LogConfig = field(default_factory=LogConfig)

    def validate(self) -> None:
        if not self.init:
            raise UserError("init: required (the checkpoint folder RL starts from)")
        self.reward_fn()  # unknown name / parameter -> UserError naming it
        for section in (self.data, self.rollout, self.grpo, self.optim, self.train, self.checkpoint, self.log):
            section.validate()
        if self.rollout.prompts % self.grpo.mini_batch_prompts:
            raise UserError(f"rollout.prompts ({self.rollout.prompts}) must be a multiple of grpo.mini_batch_prompts "
                            f"({self.grpo.mini_batch_prompts})")

    def reward_fn(self):
        from interplay.verify import get_reward

        params = dict(self.reward)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise UserError(f"reward.name: required (one of the verifier's rewards), got {name!r}")
        try:
            return get_reward(name, **params)
        except UserError as exc:
            raise UserError(f"reward: {exc}") from None

    @property
    def reference_path(self) -> str:
        return self.reference or self.init

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def load_rl_config(path: str | Path | None, overrides: list[str]) -> RLConfig:
    data = read_yaml(path, "config") if path is not None else {}
    data = apply_overrides(data, list(overrides))
    cfg = from_mapping(RLConfig, data)
    cfg.validate()
    return cfg

