"""Recipes: the demo and the paper's four studies as stage graphs (see `stages.py`).

A preset YAML (`configs/demo.yaml`, `configs/study-<preset>.yaml`) names the stage configs (corpus,
pretrain, midtrain, RL recipes) and evaluation settings; a recipe turns it into the list of
`interplay` commands the study needs. Stages common to several arms or studies (corpus, tokenizer,
base model, its evaluation and ladder) are the same command, hence one cached folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.studies.stages import Stage

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
STUDIES = ("ladder", "extrapolation", "context", "allocation", "rewards")
PRESETS = ("ci", "demo", "cpu", "paper")
ARMS = ("id", "mixed", "edge", "hard")


def config_path(name: str | Path, where: str) -> str:
    """A config named in a preset: a path, or a file name in the shipped configs folder."""
    p = Path(name)
    for candidate in (p, CONFIG_DIR / p):
        if candidate.is_file():
            return str(candidate)
    raise UserError(f"{where}: no config file {str(name)!r} (looked in . and {CONFIG_DIR})")


@dataclass
class EvalSpec:
    split: str = "eval"
    per_op: int | None = None
    n: int = 128
    temperature: float = 0.7
    max_new_tokens: int | None = None
    batch_rows: int | None = None
    seed: int = 0

    def argv(self) -> list[str]:
        out = ["--split", self.split, "--n", str(self.n), "--temperature", str(self.temperature),
               "--seed", str(self.seed), "--no-pictures"]
        if self.per_op is not None:
            out += ["--per-op", str(self.per_op)]
        if self.max_new_tokens is not None:
            out += ["--max-new-tokens", str(self.max_new_tokens)]
        if self.batch_rows is not None:
            out += ["--batch-rows", str(self.batch_rows)]
        return out


# The keys each mapping section of a preset may hold (what the recipes read).
_SECTION_KEYS = {
    "tokenizer": {"split", "sample"},
    "context": {"corpora", "context_b", "rl_ops", "rl_contexts", "tokenizer_split", "pretrain_set", "rl_set"},
    "allocation": {"total", "shares"},
}


@dataclass
class Preset:
    """What a preset YAML holds; `validate()` names the field at fault."""

    name: str
    source: str
    corpus: str
    pretrain: str
    rl: str
    midtrain: str | None = None
    corpus_workers: int = 2
    tokenizer: dict[str, Any] = field(default_factory=dict)
    pretrain_set: list[str] = field(default_factory=list)
    rl_set: list[str] = field(default_factory=list)
    midtrain_set: list[str] = field(default_factory=list)
    eval: EvalSpec = field(default_factory=EvalSpec)
    op_ranges: dict[str, list[int]] | None = None  # None: from the ladder on the base model
    arms: dict[str, list[int]] | None = None  # None: from the op ranges (stages.arm_ranges)
    context: dict[str, Any] = field(default_factory=dict)
    allocation: dict[str, Any] = field(default_factory=dict)
    rewards: dict[str, dict[str, Any]] = field(default_factory=dict)
    launcher: str = "interplay"  # how the documented commands start (torchrun for the paper preset)
    # A seed for the whole study: every training stage's train.seed and the evaluation's sampling seed.
    # None (the default): each config keeps its own seed. The corpus and tokenizer never change with it,
    # so runs at several seeds share the data and differ only in initialisation, data order and sampling.
    seed: int | None = None
    # `interplay ladder` flags. Process pass@k by default: a small model's outcome pass@k is inflated by
    # guessed answers (the demo's base model: outcome pass@16 0.375 at op 8 with no correct trace), so an
    # outcome ladder would find no OOD-hard range.
    ladder_args: list[str] = field(default_factory=lambda: ["--metric", "process"])

    @classmethod
    def load(cls, path: str | Path, seed: int | None = None, overrides: Sequence[str] = ()) -> Preset:
        """The preset file at `path`; `seed` (e.g. `interplay study --seed`) replaces the file's `seed`, and
        `overrides` (`interplay study --set`, `a.b=value` as for training configs) replace its fields."""
        import yaml

        from interplay.lm.configtools import apply_overrides

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"preset {path}: cannot read it ({exc})") from exc
        if not isinstance(data, dict):
            raise UserError(f"preset {path}: expected a mapping of fields")
        source = str(path) + "".join(f" --set {item}" for item in overrides)
        for item in overrides:  # a.b=… reaches into a mapping field only (eval, context, …), not into `name`
            head, dot, _ = item.partition("=")[0].partition(".")
            if dot and head in data and not isinstance(data[head], dict):
                raise UserError(f"--set {item}: the preset's {head} is not a section")
        data = apply_overrides(dict(data), list(overrides))
        known = set(cls.__dataclass_fields__) - {"source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"preset {source}: unknown field(s) {', '.join(unknown)}")
        for key in ("name", "corpus", "pretrain", "rl"):
            if key not in data:
                raise UserError(f"preset {source}: field {key!r} is required")
        data["eval"] = EvalSpec(**_mapping(data.get("eval", {}), f"preset {source}: eval", EvalSpec))
        if seed is not None:
            data["seed"] = seed
        preset = cls(source=source, **data)
        preset.validate()
        return preset

    def validate(self) -> None:
        where = f"preset {self.source}"
        self.corpus = config_path(self.corpus, f"{where}: corpus")
        self.pretrain = config_path(self.pretrain, f"{where}: pretrain")
        self.rl = config_path(self.rl, f"{where}: rl")
        if self.midtrain is not None:
            self.midtrain = config_path(self.midtrain, f"{where}: midtrain")
        for key in ("pretrain_set", "rl_set", "midtrain_set", "ladder_args"):
            values = getattr(self, key)
            if not isinstance(values, list) or any(not isinstance(v, str) or "=" not in v for v in values):
                if key == "ladder_args" and isinstance(values, list) and all(isinstance(v, str) for v in values):
                    continue
                raise UserError(f"{where}: {key} must be a list of KEY=VALUE strings")
        for section, keys in _SECTION_KEYS.items():  # a misspelt key would silently fall back to a default
            value = getattr(self, section)
            if value is None:  # an empty section in YAML (`context:`): nothing set
                value = {}
                setattr(self, section, value)
            if not isinstance(value, dict):
                raise UserError(f"{where}: {section} must be a mapping")
            unknown = sorted(set(value) - keys)
            if unknown:
                raise UserError(f"{where}: unknown {section} field(s) {', '.join(map(str, unknown))} "
                                f"(known: {', '.join(sorted(keys))})")
        if self.eval.n < 1 or self.eval.temperature < 0:
            raise UserError(f"{where}: eval.n must be positive and eval.temperature >= 0")
        if self.seed is not None:
            if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
                raise UserError(f"{where}: seed must be a whole number >= 0, got {self.seed!r}")
            # Only where the stage's own seed differs: a stage already at this seed keeps its exact command,
            # hence its cached folder (`--seeds 0,1,2` reuses the runs made without --seed where seeds agree).
            override = f"train.seed={self.seed}"
            if _stage_seed("pretrain", self.pretrain, self.pretrain_set) != self.seed:
                self.pretrain_set = [*self.pretrain_set, override]
            if self.midtrain is not None and _stage_seed("midtrain", self.midtrain, self.midtrain_set) != self.seed:
                self.midtrain_set = [*self.midtrain_set, override]
            if _stage_seed("rl", self.rl, self.rl_set) != self.seed:
                self.rl_set = [*self.rl_set, override]
            self.eval.seed = self.seed
        if self.op_ranges is not None:
            for key in ("ID", "OOD-edge", "OOD-hard"):
                _range(self.op_ranges.get(key), f"{where}: op_ranges.{key}")
        if self.arms is not None:
            for key in ARMS:
                _range(self.arms.get(key), f"{where}: arms.{key}")

    def op_ranges_arg(self, ladder_stage: str) -> str:
        if self.op_ranges is None:
            return "{ranges:" + ladder_stage + "}"
        return ",".join(f"{k}={lo}-{hi}" for k, (lo, hi) in self.op_ranges.items())

    def arm_ops(self, arm: str, ladder_stage: str) -> str:
        if self.arms is not None:
            lo, hi = self.arms[arm]
            return f"[{lo}, {hi}]"
        if self.op_ranges is not None:
            from interplay.studies.stages import arm_ranges

            lo, hi = arm_ranges({k: tuple(v) for k, v in self.op_ranges.items()})[arm]
            return f"[{lo}, {hi}]"
        return "{arm:" + ladder_stage + ":" + arm + "}"


def _stage_config(kind: str, config: str, sets: list[str]) -> Any:
    """A training stage's config (pretrain, midtrain or rl) with the preset's overrides, as its stages load
    it; the paths a stage fills in at run time (init, tokenizer, data) are placeholders."""
    if kind == "rl":
        from interplay.rl.config import load_rl_config

        return load_rl_config(config, [*sets, "init=unused"])
    from interplay.lm.trainconfig import load_run_config

    placeholders = ["init=unused"] if kind == "midtrain" else ["tokenizer=unused", "data.path=unused"]
    return load_run_config(config, kind, [*sets, *placeholders])  # placeholders last: they win


def _stage_seed(kind: str, config: str, sets: list[str]) -> int:
    return _stage_config(kind, config, sets).train.seed


def _mapping(value: Any, where: str, cls: type) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a mapping")
    unknown = sorted(set(value) - set(cls.__dataclass_fields__))
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return value


def _range(value: Any, where: str) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
            and 2 <= value[0] <= value[1]):
        raise UserError(f"{where} must be [lo, hi] with 2 <= lo <= hi, got {value!r}")


def preset_path(kind: str, preset: str) -> str:
    """configs/demo.yaml (demo), configs/demo-ci.yaml, configs/study-<preset>.yaml."""
    if kind == "demo":
        return config_path("demo.yaml" if preset == "demo" else f"demo-{preset}.yaml", "--preset")
    return config_path(f"study-{preset}.yaml", "--preset")


# -- shared stages ------------------------------------------------------------------------------------


def _sets(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += ["--set", v]
    return out


def base_stages(p: Preset, corpus: str = "corpus", tag: str = "") -> list[Stage]:
    """Corpus, tokenizer, pre-training, evaluation and ladder of the base model (shared by every study)."""
    tok = p.tokenizer
    stages = [
        Stage("corpus", ["corpus", "build", p.corpus, "--out", "{out}", "--workers", str(p.corpus_workers)],
              "build the corpus"),
        Stage("tokenizer", ["tokenizer", "train", "--corpus", "{dir:corpus}", "--out", "{out}",
                            "--split", str(tok.get("split", "pretrain")),
                            "--sample", str(tok.get("sample", 50000))], "train the tokenizer"),
    ]
    stages += pretrain_stages(p, corpus, tag)
    return stages


def pretrain_stages(p: Preset, corpus: str, tag: str) -> list[Stage]:
    base = f"pretrain{tag}"
    return [
        Stage(base, ["pretrain", p.pretrain, "--out", "{out}", "--set", "tokenizer={dir:tokenizer}",
                     "--set", "data.path={dir:" + corpus + "}", *_sets(p.pretrain_set)], "pre-train the base model"),
        problems_stage(p, corpus),
        Stage(f"eval-base{tag}", ["eval", "--model", "{final:" + base + "}", "--problems",
                                   "{dir:problems" + _suffix(corpus) + "}/problems.jsonl",
                                   *p.eval.argv(), "--out", "{out}"], "evaluate the base model (process-verified pass@k)"),
        Stage(f"ladder{tag}", ["ladder", "--eval", "{dir:eval-base" + tag + "}", "--yaml", "{out}/ladder.yaml",
                               *p.ladder_args],
              "ladder: ID / OOD-edge / OOD-hard op ranges of the base model"),
    ]


def _suffix(corpus_stage: str) -> str:
    return corpus_stage[len("corpus"):]


def problems_stage(p: Preset, corpus: str) -> Stage:
    return Stage("problems" + _suffix(corpus), ["problems", "--corpus", "{dir:" + corpus + "}", "--split", p.eval.split,
                                                "--out", "{out}"], "the evaluation problems, each once")


def eval_stage(p: Preset, name: str, model_stage: str, corpus: str, ranges: str | None, title: str = "") -> Stage:
    """Evaluate a model on a corpus's problems; `ranges` None leaves the evaluation's default op ranges."""
    range_args = ["--op-ranges", ranges] if ranges is not None else []
    return Stage(name, ["eval", "--model", "{final:" + model_stage + "}", "--problems", "{dir:problems" + _suffix(corpus) + "}/problems.jsonl",
                        *p.eval.argv(), *range_args, "--out", "{out}"], title or f"evaluate {model_stage}")


def base_ranged_stage(p: Preset, ranges: str) -> Stage:
    """The base model's evaluation with the study's op ranges: the same problems and sampling settings as
    `eval-base`, so its completions are copied from there (keyed sampling makes them identical) and
    only the tables are recomputed."""
    stage = eval_stage(p, "eval-base-ranged", "pretrain", "corpus", ranges, "the base model's evaluation on the study's ranges")
    return Stage(stage.name, stage.argv + ["--reuse-samples", "{dir:eval-base}"], stage.title)


def rl_stage(p: Preset, name: str, init_stage: str, corpus: str, ops: str | None, extra: list[str] = (),
             title: str = "") -> Stage:
    argv = ["rl", p.rl, "--out", "{out}", "--set", "init={final:" + init_stage + "}",
            "--set", "data.path={dir:" + corpus + "}"]
    if ops is not None:
        argv += ["--set", f"data.ops={ops}"]
    return Stage(name, argv + _sets(p.rl_set) + list(extra), title or f"RL ({name})")


# -- the demo -------------------------------------------------------------------------------------------


def demo_recipe(p: Preset) -> list[Stage]:
    """Corpus, tokenizer, pre-training, a short GRPO run, evaluation of both models with the same ranges."""
    ranges = p.op_ranges_arg("ladder")
    stages = [s for s in base_stages(p) if not s.name.startswith(("eval-base", "ladder"))]
    for s in stages:
        s.shared = False
    stages.append(rl_stage(p, "rl", "pretrain", "corpus", None, title="RL: a short GRPO run from the base model"))
    stages.append(eval_stage(p, "eval-base", "pretrain", "corpus", ranges, "evaluate the base model"))
    stages.append(eval_stage(p, "eval-rl", "rl", "corpus", ranges, "evaluate the RL model"))
    for s in stages:
        s.shared = False
    return stages


# -- the studies ----------------------------------------------------------------------------------------


@dataclass
class Recipe:
    study: str
    stages: list[Stage]
    # label -> eval stage name, in the order the report shows them
    evals: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def study_recipe(study: str, p: Preset) -> Recipe:
    if study not in STUDIES:
        raise UserError(f"unknown study {study!r}; choose one of {', '.join(STUDIES)}")
    return {"ladder": _ladder, "extrapolation": _extrapolation, "context": _context,
            "allocation": _allocation, "rewards": _rewards}[study](p)


def _ladder(p: Preset) -> Recipe:
    return Recipe("ladder", base_stages(p), {"base": "eval-base"})


def _extrapolation(p: Preset) -> Recipe:
    stages = base_stages(p)
    ranges = p.op_ranges_arg("ladder")
    evals = {"base": "eval-base-ranged"}
    stages.append(base_ranged_stage(p, ranges))
    for arm in ARMS:
        stages.append(rl_stage(p, f"rl-{arm}", "pretrain", "corpus", p.arm_ops(arm, "ladder"),
                               title=f"RL on the {arm} op range"))
        stages.append(eval_stage(p, f"eval-rl-{arm}", f"rl-{arm}", "corpus", ranges))
        evals[f"RL {arm}"] = f"eval-rl-{arm}"
    return Recipe("extrapolation", stages, evals)


def _rewards(p: Preset) -> Recipe:
    if not p.rewards:
        raise UserError(f"preset {p.source}: the rewards study needs a `rewards:` mapping of arm -> reward")
    stages = base_stages(p)
    ranges = p.op_ranges_arg("ladder")
    stages.append(base_ranged_stage(p, ranges))
    evals = {"base": "eval-base-ranged"}
    default_reward = _rl_config(p).reward  # what an arm without a reward override trains on
    for arm, reward in p.rewards.items():
        if not isinstance(reward, dict) or "name" not in reward:
            raise UserError(f"preset {p.source}: rewards.{arm} must be a mapping with a `name`")
        import json

        if reward == default_reward:
            # The RL config's own reward: this arm is exactly the extrapolation study's edge arm (same
            # command, hence the same cached folder), so a preset that runs both trains it once.
            rl_name, eval_name, extra = "rl-edge", "eval-rl-edge", []
        else:
            rl_name, eval_name = f"rl-reward-{arm}", f"eval-reward-{arm}"
            extra = ["--set", "reward=" + json.dumps(reward, sort_keys=True)]
        stages.append(rl_stage(p, rl_name, "pretrain", "corpus", p.arm_ops("edge", "ladder"), extra,
                               title=f"RL on the edge range with reward {arm}"))
        stages.append(eval_stage(p, eval_name, rl_name, "corpus", ranges))
        evals[f"RL {arm}"] = eval_name
    return Recipe("rewards", stages, evals)


def _rl_config(p: Preset) -> Any:
    """The preset's RL config with its overrides, as its stages load it."""
    return _stage_config("rl", p.rl, p.rl_set)


def _list(spec: dict[str, Any], key: str, p: Preset) -> list[str]:
    """`context.pretrain_set` / `context.rl_set`: extra overrides for this study's own runs."""
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise UserError(f"preset {p.source}: context.{key} must be a list of key=value overrides")
    return value


def _context(p: Preset) -> Recipe:
    spec = p.context
    corpora = spec.get("corpora")
    if not isinstance(corpora, dict) or not corpora:
        raise UserError(f"preset {p.source}: the context study needs `context.corpora`: exposure -> corpus config")
    b = str(spec.get("context_b", "school"))
    rl_ops = spec.get("rl_ops")
    if rl_ops is not None:  # checked now, not hours later when the first RL stage starts
        _range(rl_ops, f"preset {p.source}: context.rl_ops")
    tok = p.tokenizer
    first = None
    stages: list[Stage] = []
    evals: dict[str, str] = {}
    # The preset's fixed op ranges label the range tables; without them (ranges from the ladder of the shared
    # base model, which these four pre-trainings are not) the evaluation's defaults apply and the report's
    # per-op tables on context B are what the study reads.
    ranges = p.op_ranges_arg("ladder") if p.op_ranges is not None else None
    for exposure, corpus_cfg in corpora.items():
        tag = "-b" + str(exposure)
        cname = "corpus" + tag
        stages.append(Stage(cname, ["corpus", "build", config_path(corpus_cfg, f"preset {p.source}: context.corpora"),
                                    "--out", "{out}", "--workers", str(p.corpus_workers)],
                            f"build the corpus with {exposure}% context B"))
        if first is None:
            first = cname
            # One tokenizer for every arm, trained on the RL split (half context B), so B's words are
            # whole tokens in every arm: a tokenizer that splits B into bytes would confound the study.
            stages.append(Stage("tokenizer", ["tokenizer", "train", "--corpus", "{dir:" + cname + "}", "--out", "{out}",
                                              "--split", str(spec.get("tokenizer_split", "rl")),
                                              "--sample", str(tok.get("sample", 50000))],
                                "train the tokenizer (all contexts)"))
        base = "pretrain" + tag
        stages.append(Stage(base, ["pretrain", p.pretrain, "--out", "{out}", "--set", "tokenizer={dir:tokenizer}",
                                   "--set", "data.path={dir:" + cname + "}", *_sets(p.pretrain_set),
                                   *_sets(_list(spec, "pretrain_set", p))],
                            f"pre-train with {exposure}% context B"))
        stages.append(problems_stage(p, cname))
        stages.append(eval_stage(p, "eval-base" + tag, base, cname, ranges, f"evaluate the base model ({exposure}% B)"))
        # Half context A (zoo), half context B, unless the preset gives its own RL mixture.
        ctx_set = ["--set", "data.contexts=" + str(spec.get("rl_contexts", "{zoo: 0.5, " + b + ": 0.5}")),
                   *_sets(_list(spec, "rl_set", p))]
        # Without context.rl_ops, RL takes every op of the RL split (not the RL config's own op range).
        stages.append(rl_stage(p, "rl" + tag, base, cname, "null" if rl_ops is None else str(rl_ops), ctx_set,
                               title=f"RL on 50% A + 50% B ({exposure}% B in pre-training)"))
        stages.append(eval_stage(p, "eval-rl" + tag, "rl" + tag, cname, ranges, f"evaluate the RL model ({exposure}% B)"))
        evals[f"base {exposure}%"] = "eval-base" + tag
        evals[f"RL {exposure}%"] = "eval-rl" + tag
    return Recipe("context", stages, evals,
                  extra={"context_b": b, "exposures": [str(e) for e in corpora], "rl_ops": rl_ops})


def allocation_plan(p: Preset) -> list[dict[str, Any]]:
    """Mid-training / RL steps per share β at one budget, with this preset's step sizes (interplay.budget)."""
    from interplay.budget import BudgetSettings, parse_total, plan_budget

    spec = p.allocation
    if "total" not in spec or p.midtrain is None:
        raise UserError(f"preset {p.source}: the allocation study needs `allocation.total` and a `midtrain` config")
    mid = _stage_config("midtrain", p.midtrain, p.midtrain_set)
    rl = _rl_config(p)
    mid_tokens = mid.train.batch_size * mid.data.seq_len
    settings = BudgetSettings(mid_tokens_per_step=mid_tokens, prompts=rl.rollout.prompts, rollouts=rl.rollout.rollouts,
                              seq_len=rl.rollout.max_prompt_tokens + rl.rollout.max_new_tokens,
                              reference=rl.grpo.kl_coef > 0)
    total, _ = parse_total(str(spec["total"]), mid_tokens)
    return [plan_budget(total, share, settings) for share in spec.get("shares", [0, 0.2, 0.5, 0.8, 1])]


def _allocation(p: Preset) -> Recipe:
    stages = base_stages(p)
    ranges = p.op_ranges_arg("ladder")
    stages.append(base_ranged_stage(p, ranges))
    evals = {"base": "eval-base-ranged"}
    plans = allocation_plan(p)
    edge = p.arm_ops("edge", "ladder")
    rl_steps = _rl_config(p).train.steps
    rl_stages: dict[str, str] = {}  # β -> the RL stage of that arm (its metrics hold the tokens it really had)
    # The plan gives mid-training steps; a config sized in tokens (the paper's "1B") must drop its size.
    unsized = ["--set", "train.tokens=null"] if _stage_config("midtrain", p.midtrain, p.midtrain_set).train.tokens else []
    for plan in plans:
        beta = plan["rl_share"]
        tag = f"beta{beta:g}"
        if plan["mid_steps"] == 0 and plan["rl_steps"] == rl_steps:
            # All of the budget on the RL config's own recipe: that is the extrapolation study's edge arm
            # (same command, same cached folder), so a preset that runs both trains it once.
            stages.append(rl_stage(p, "rl-edge", "pretrain", "corpus", edge,
                                   title=f"RL {rl_steps} steps on the edge range (β = {beta:g}, the edge arm)"))
            stages.append(eval_stage(p, "eval-rl-edge", "rl-edge", "corpus", ranges))
            evals[f"β = {beta:g}"] = "eval-rl-edge"
            rl_stages[f"{beta:g}"] = "rl-edge"
            continue
        model = "pretrain"
        if plan["mid_steps"] > 0:
            # Mid-training is next-token training on the same edge-of-competence ops RL trains on (the
            # paper mid-trains on its OOD-edge range): the corpus's midtrain split spans the ops and
            # data.ops keeps the edge, which on a ladder preset is only known once the base is evaluated.
            stages.append(Stage(f"midtrain-{tag}", ["midtrain", p.midtrain, "--out", "{out}",
                                                    "--set", "init={final:pretrain}", "--set", "data.path={dir:corpus}",
                                                    "--set", "data.split=midtrain", "--set", f"data.ops={edge}",
                                                    "--set", "eval.split=eval",
                                                    *_sets(p.midtrain_set), *unsized,
                                                    "--set", f"train.steps={plan['mid_steps']}"],
                                f"mid-train {plan['mid_steps']} steps on the edge range (β = {beta:g})"))
            model = f"midtrain-{tag}"
        if plan["rl_steps"] > 0:
            stages.append(rl_stage(p, f"rl-{tag}", model, "corpus", edge,
                                   ["--set", f"train.steps={plan['rl_steps']}"],
                                   title=f"RL {plan['rl_steps']} steps on the edge range (β = {beta:g})"))
            model = rl_stages[f"{beta:g}"] = f"rl-{tag}"
        stages.append(eval_stage(p, f"eval-{tag}", model, "corpus", ranges))
        evals[f"β = {beta:g}"] = f"eval-{tag}"
    return Recipe("allocation", stages, evals, extra={"plans": plans, "rl_stages": rl_stages})
