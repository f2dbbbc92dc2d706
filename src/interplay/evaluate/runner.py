"""Run an evaluation: sample n completions per problem, verify each, write the report. Resumable.

Output folder:

    eval_config.json   the settings (resuming with other settings is refused, naming the field)
    samples.jsonl      one line per completion with its verdict, in problem order then sample index
    results.json       settings, pass@k / error / length tables, throughput, plot and picture paths
    pass_at_k.csv  errors.csv  lengths.csv  per_problem.csv
    pass_at_k.png  pass_by_op.png  failures/*.png  report.md

Resuming: completions are appended to samples.jsonl as they are verified. A restarted evaluation reads
what is there (dropping a line cut off by the interruption), asks the sampler only for the missing
(problem, sample index) pairs and — because each sample's randomness is keyed by its own identity
(see interplay.lm.sampler) — ends with the same samples.jsonl as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interplay import locks
from interplay.errors import UserError
from interplay.evaluate.ranges import OpRanges, check_op_ranges, default_op_ranges
from interplay.lm.sampler import DTYPES, resolve_device, resolve_dtype

CONFIG_FILE = "eval_config.json"
SAMPLES_FILE = "samples.jsonl"
RESULTS_FILE = "results.json"
# Settings that decide what the completions are: resuming with any other value would mix two runs.
_IDENTITY_FIELDS = ("model_sha256", "problems", "split", "per_op", "n", "temperature", "top_p", "top_k",
                    "max_new_tokens", "seed", "problem_ids_sha256", "dtype", "backend")
# Evaluations written before `dtype` and `backend` were recorded all sampled in fp32 with our own sampler
# (the only choices then).
_LEGACY = {"dtype": "float32", "backend": "torch"}


def default_ks(n: int) -> list[int]:
    """1, 2, 4, … up to n, and n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


@dataclass
class EvalConfig:
    model: str
    problems: str
    out: str
    split: str = "eval"
    per_op: int | None = None
    n: int = 128
    ks: list[int] | None = None  # None = default_ks(n)
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    # None = "auto": twice the longest gold completion (in tokens) among the evaluated problems.
    max_new_tokens: int | None = None
    seed: int = 0
    batch_rows: int = 128
    device: str | None = None
    dtype: str = "auto"  # the sampler's weights and cache: bf16 on a GPU, fp32 on a CPU
    backend: str = "torch"  # or "vllm" (GPU, optional)
    op_ranges: OpRanges = field(default_factory=default_op_ranges)
    failure_pictures: bool = True
    progress: bool = True
    # Another evaluation's folder: its completions of the same problems under the same sampling
    # settings are copied instead of sampled again (studies: the base model with new op ranges).
    reuse_samples: str | None = None

    def validate(self) -> EvalConfig:
        if not isinstance(self.n, int) or self.n < 1:
            raise UserError(f"--n must be a positive integer, got {self.n!r}")
        if self.ks is None:
            self.ks = default_ks(self.n)
        if not self.ks or any(not isinstance(k, int) or k < 1 for k in self.ks):
            raise UserError(f"--k values must be positive integers, got {self.ks!r}")
        if max(self.ks) > self.n:
            raise UserError(f"--k: pass@{max(self.ks)} needs at least {max(self.ks)} samples, but --n is {self.n}")
        self.ks = sorted(set(self.ks))
        if not (self.temperature >= 0):
            raise UserError(f"--temperature must be >= 0, got {self.temperature!r}")
        if not (0 < self.top_p <= 1):
            raise UserError(f"--top-p must be in (0, 1], got {self.top_p!r}")
        if self.top_k < 0:
            raise UserError(f"--top-k must be >= 0, got {self.top_k!r}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens!r}")
        if self.batch_rows < 1:
            raise UserError(f"--batch-rows must be >= 1, got {self.batch_rows!r}")
        if self.dtype not in DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        self.op_ranges = check_op_ranges(self.op_ranges)
        return self


def _sha256_of_model(folder: Path) -> str:
    """Fingerprint of the weights and config, so a resumed run cannot silently switch models."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") or p.name == "config.json")
    if not files:
        raise UserError(f"--model: {folder} has no weights (*.safetensors / *.bin)")
    for p in files:
        h.update(p.name.encode())
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_samples(path: Path) -> list[dict[str, Any]]:
    """Rows stored so far; a final line cut off mid-write (no newline, not JSON) is dropped from the file."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    rows = []
    good_end = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # interrupted mid-write
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {len(rows) + 1} is not JSON ({exc.msg}); remove it or the file") from None
        good_end += len(line)
    if good_end != len(data):
        with path.open("r+b") as f:
            f.truncate(good_end)
    return rows


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _gold_token_lengths(sampler: Any, problems: list[dict[str, Any]]) -> int:
    from interplay.text import format_completion

    longest = 0
    for r in problems:
        if r.get("solution") is not None and r.get("answer") is not None:
            longest = max(longest, len(sampler.encode(format_completion(r))) + 1)
    return longest


def run_evaluation(cfg: EvalConfig, sampler: Any = None) -> dict[str, Any]:
    """Sample what is missing, verify, and write every output. Returns the results dict.

    `sampler` (tests) is anything with `encode(text)` and `generate(requests, config, on_progress)` as
    `interplay.lm.sampler.Sampler`; by default the model folder is loaded.
    """
    from interplay.evaluate.problems import load_problems

    cfg.validate()
    out = Path(cfg.out)
    model_dir = Path(cfg.model)
    if not model_dir.is_dir():
        raise UserError(f"--model: {model_dir} is not a folder")
    problems = load_problems(cfg.problems, split=cfg.split, per_op=cfg.per_op)
    out.mkdir(parents=True, exist_ok=True)
    # Two evaluations into one folder would sample the same completions twice and rewrite samples.jsonl
    # under each other's appends.
    locks.hold_for_process(out / locks.FOLDER_LOCK, f"--out {out}")
    settings = {
        "model": str(model_dir),
        "model_sha256": _sha256_of_model(model_dir),
        "problems": str(cfg.problems),
        "split": cfg.split,
        "per_op": cfg.per_op,
        "n": cfg.n,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "top_k": cfg.top_k,
        "seed": cfg.seed,
        "dtype": resolve_dtype(cfg.dtype, resolve_device(cfg.device) if cfg.backend == "torch" else "cuda"),
        "backend": cfg.backend,  # vLLM seeds each request its own way: its completions are not ours
        "problem_ids_sha256": hashlib.sha256("\n".join(r["id"] for r in problems).encode()).hexdigest(),
    }
    config_path = out / CONFIG_FILE
    previous = json.loads(config_path.read_text()) if config_path.is_file() else None
    samples_path = out / SAMPLES_FILE
    stored = read_samples(samples_path)
    have = {(r["id"], r["sample_index"]) for r in stored}
    missing = [(pi, j) for pi, r in enumerate(problems) for j in range(cfg.n) if (r["id"], j) not in have]

    def check(keys) -> None:
        for key in keys:
            if previous is not None and previous.get(key, _LEGACY.get(key)) != settings.get(key):
                raise UserError(
                    f"--out {out} holds an evaluation with {key}={previous.get(key, _LEGACY.get(key))!r}, not "
                    f"{settings.get(key)!r}; "
                    "use another --out (or delete it)"
                )

    check(k for k in _IDENTITY_FIELDS if k != "max_new_tokens")  # before paying for loading the model
    reused_max_new_tokens = None
    if cfg.reuse_samples is not None and missing:
        reused_max_new_tokens = _reuse(Path(cfg.reuse_samples), cfg, settings, previous, problems, set(missing),
                                       samples_path)
        stored = read_samples(samples_path)
        have = {(r["id"], r["sample_index"]) for r in stored}
        missing = [(pi, j) for pi, r in enumerate(problems) for j in range(cfg.n) if (r["id"], j) not in have]
    if missing and sampler is None:
        from interplay.lm.sampler import load_sampler

        sampler = load_sampler(model_dir, backend=cfg.backend, device=cfg.device, dtype=settings["dtype"])
    if cfg.max_new_tokens is not None:
        settings["max_new_tokens"] = cfg.max_new_tokens
    elif previous is not None:
        settings["max_new_tokens"] = previous.get("max_new_tokens")
    elif reused_max_new_tokens is not None:
        settings["max_new_tokens"] = reused_max_new_tokens  # "auto" here means: as the reused evaluation
    else:
        if sampler is None:
            raise UserError(f"--max-new-tokens: {out} has samples but no {CONFIG_FILE}; give it")
        longest = _gold_token_lengths(sampler, problems)
        if longest == 0:
            raise UserError("--max-new-tokens: the problems carry no gold solution to size it from; give it")
        settings["max_new_tokens"] = 2 * longest
    check(["max_new_tokens"])
    _write_atomic(config_path, json.dumps(settings, indent=1, sort_keys=True) + "\n")

    session = {"samples": 0, "tokens": 0, "seconds": 0.0}
    if missing:
        session = _sample_and_verify(cfg, settings, sampler, problems, missing, samples_path)
    rows = _canonical_rows(read_samples(samples_path), problems, cfg.n, samples_path)
    from interplay.evaluate.outputs import write_outputs

    return write_outputs(cfg, settings, problems, rows, out, session)


# What decides a completion besides its problem and sample index (sampling is keyed, see lm/sampling/rng).
_SAMPLING_FIELDS = ("model_sha256", "temperature", "top_p", "top_k", "seed", "max_new_tokens", "dtype", "backend")


def _reuse(
    source: Path,
    cfg: EvalConfig,
    settings: dict[str, Any],
    previous: dict[str, Any] | None,
    problems: list[dict[str, Any]],
    missing: set[tuple[int, int]],
    samples_path: Path,
) -> int | None:
    """Append `source`'s stored completions that this evaluation is missing; return its max_new_tokens.

    Only when every sampling setting is the same: then the completion of (problem, sample j) is the
    same bytes whichever run made it. Anything else is refused, naming the setting.
    """
    config_path = source / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"--reuse-samples: {source} holds no evaluation ({CONFIG_FILE} missing)")
    theirs = json.loads(config_path.read_text())
    wanted_max = cfg.max_new_tokens if cfg.max_new_tokens is not None else (previous or {}).get("max_new_tokens")
    for key in _SAMPLING_FIELDS:
        mine = wanted_max if key == "max_new_tokens" else settings.get(key)
        if mine is None and key == "max_new_tokens":
            continue  # "auto": take the source's
        if theirs.get(key, _LEGACY.get(key)) != mine:
            raise UserError(
                f"--reuse-samples: {source} was sampled with {key}={theirs.get(key, _LEGACY.get(key))!r}, this "
                f"evaluation uses "
                f"{mine!r}; its completions cannot be reused"
            )
    want = {(problems[pi]["id"], j) for pi, j in missing}
    rows = [r for r in read_samples(source / SAMPLES_FILE) if (r["id"], r["sample_index"]) in want]
    if rows:
        with samples_path.open("a", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return theirs.get("max_new_tokens")


def _sample_and_verify(
    cfg: EvalConfig,
    settings: dict[str, Any],
    sampler: Any,
    problems: list[dict[str, Any]],
    missing: list[tuple[int, int]],
    samples_path: Path,
) -> dict[str, Any]:
    """Sample the missing (problem index, sample index) pairs; append each verified completion."""
    from interplay.lm.sampler import Request, SamplingConfig
    from interplay.text import format_prompt
    from interplay.verify import load_gold, verify

    sconfig = SamplingConfig(
        temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k, max_new_tokens=settings["max_new_tokens"],
        seed=cfg.seed, max_batch_rows=cfg.batch_rows,
    ).validate()
    prompt_ids = {}
    golds = {}
    for pi in sorted({pi for pi, _ in missing}):
        prompt_ids[pi] = sampler.encode(format_prompt(problems[pi]))
        try:
            golds[pi] = load_gold(problems[pi])
        except UserError as exc:
            raise UserError(f"--problems: problem {problems[pi]['id']}: {exc}") from None
    requests = [Request(prompt_ids[pi], j, prompt_index=pi) for pi, j in missing]
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        done = cfg.n * len(problems) - len(missing)
        bar = tqdm(total=cfg.n * len(problems), initial=done, unit="sample", file=sys.stderr, dynamic_ncols=True,
                   desc="eval", smoothing=0.05,
                   # Redirected to a file (a study's log), a redraw every 0.1 s is hundreds of lines a minute.
                   mininterval=0.1 if sys.stderr.isatty() else 30.0)
    tokens = 0
    t0 = time.perf_counter()
    try:
        with samples_path.open("a", encoding="utf-8") as f:
            for c in sampler.generate(requests, sconfig, on_progress=bar.update if bar else None):
                record = problems[c.prompt_index]
                v = verify(golds[c.prompt_index], c.text)
                row = {
                    "id": record["id"], "op": record["op"], "context": record.get("context"),
                    "mode": record.get("mode"), **c.to_dict(), **v.to_dict(),
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                tokens += len(c.token_ids)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    return {"samples": len(missing), "tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None,
            "samples_per_s": round(len(missing) / seconds, 2) if seconds > 0 else None}


def _canonical_rows(rows: list[dict[str, Any]], problems: list[dict[str, Any]], n: int, path: Path):
    """Rows of the evaluated problems in problem order then sample index; rewrite the file that way."""
    order = {r["id"]: i for i, r in enumerate(problems)}
    by_key = {}
    for row in rows:
        if row["id"] in order and row["sample_index"] < n:
            by_key[(row["id"], row["sample_index"])] = row
    ordered = [by_key[k] for k in sorted(by_key, key=lambda k: (order[k[0]], k[1]))]
    if len(ordered) != len(problems) * n:
        raise AssertionError(f"{path}: {len(ordered)} samples, expected {len(problems) * n}")
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered)
    if path.read_text(encoding="utf-8") != text:
        _write_atomic(path, text)
    return ordered
