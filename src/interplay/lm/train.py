"""The one training loop, for pre-training and mid-training (mid-training = initialised from a checkpoint).

Runs on one process or under `torchrun` (DDP); the global batch (`train.batch_size` rows) is the
same either way, split across processes and gradient-accumulation micro-batches, and the loss is
normalised by the global number of target tokens, so 1 and N processes compute the same update.
A run folder DIR holds `checkpoints/`, `final/`, `metrics.jsonl`, `tensorboard/` and `data/`
(token caches). Starting a run in a DIR with checkpoints resumes from the newest one.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.lm.presets import ModelConfig, flops_per_token, parameter_counts
from interplay.lm.trainconfig import RunConfig


class TrainingDiverged(UserError):
    """The loss or gradient became NaN/inf; the last good checkpoint is kept."""

    exit_code = 3


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Tear down what `setup_dist` started (the process group of a torchrun launch)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def setup_dist() -> Dist:
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        torch.cuda.set_device(local_rank)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device != "cpu" else "gloo")
    return Dist(rank, world, local_rank, device)


def lr_at(step: int, total: int, cfg) -> float:
    """Linear warmup from 0 to lr over warmup_steps, then cosine decay to min_lr at `total`."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def _check_lengths(cfg: Any, train_cache: Any, eval_cache: Any, max_positions: int, say: Any) -> int:
    """Documents longer than a row: say what happens to them (nothing is dropped silently). Whole-document
    packing trains a long document in seq_len-token pieces at their true positions, the later pieces without
    the question they answer, and leaves out one longer than the model's positions; the held-out loss scores
    only the first seq_len tokens of a long document. Returns how many training documents are left out."""
    from interplay.lm.packing import describe_ops, over_length

    T = cfg.data.seq_len
    n, longest, _ = over_length(train_cache, T)
    dropped, _, dropped_ops = over_length(train_cache, max_positions)
    if dropped and cfg.data.packing != "docs":  # a stream window cannot leave a document out
        raise UserError(f"data: {dropped:,} training documents ({describe_ops(dropped_ops)}) are longer than the "
                        f"model's max_position_embeddings ({max_positions}; longest {longest}), which "
                        f"`packing: stream` cannot train; use `packing: docs` (it leaves them out) or data.ops")
    if train_cache.n_docs and dropped == train_cache.n_docs:
        raise UserError(f"data: every training document is longer than the model's max_position_embeddings "
                        f"({max_positions}); nothing is left to train on")
    if n and cfg.data.packing == "docs":
        if dropped:
            say(f"{cfg.stage}: warning: {dropped:,} of {train_cache.n_docs:,} training documents "
                f"({describe_ops(dropped_ops)}) are longer than the model's max_position_embeddings "
                f"({max_positions}; longest {longest}): left out of training")
        pieced, _, pieced_ops = over_length(train_cache, T, upto=max_positions)
        if pieced:
            say(f"{cfg.stage}: warning: {pieced:,} of {train_cache.n_docs:,} training documents "
                f"({describe_ops(pieced_ops)}) are longer than data.seq_len {T}: each is trained in {T}-token pieces, the "
                f"later ones without their question; raise data.seq_len (up to {max_positions}) to keep them whole")
    n, longest, ops = over_length(eval_cache, T)
    if n:
        say(f"{cfg.stage}: warning: {n:,} of {eval_cache.n_docs:,} held-out documents ({describe_ops(ops)}) are "
            f"longer than data.seq_len {T} (longest {longest}): the held-out loss scores their first {T} tokens")
    return dropped


def model_config_from_hf(config: dict[str, Any], field: str) -> ModelConfig:
    rope = config.get("rope_parameters") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    cfg = ModelConfig(
        preset=None,
        hidden_size=config["hidden_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=config["num_attention_heads"],
        num_key_value_heads=config.get("num_key_value_heads", config["num_attention_heads"]),
        intermediate_size=config["intermediate_size"],
        max_position_embeddings=config["max_position_embeddings"],
        rope_theta=float(theta),
        rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        initializer_range=float(config.get("initializer_range", 0.02)),
    )
    cfg.validate(field)
    return cfg


def resolve_model_and_tokenizer(cfg: RunConfig):
    """(ModelConfig, tokenizer, init weights or None), checking that tokenizer and model agree."""
    from interplay.lm.checkpoint import load_weights
    from interplay.lm.tokenizer import load_tokenizer

    if cfg.stage == "pretrain":
        tokenizer = _load_tokenizer_field(cfg.tokenizer, "tokenizer")
        assert cfg.model is not None
        return cfg.model, tokenizer, None
    init = Path(cfg.init or "")
    hf_config, weights = load_weights(init, "init")
    model_cfg = model_config_from_hf(hf_config, "init")
    if cfg.model is not None and cfg.model.architecture() != model_cfg.architecture():
        found, asked = model_cfg.architecture(), cfg.model.architecture()
        diffs = [k for k in found if found[k] != asked[k]]
        raise UserError(f"model: differs from the init checkpoint {init} in {', '.join(diffs)}; "
                        "leave model out of a midtrain config")
    model_cfg.preset = cfg.model.preset if cfg.model is not None else None
    if cfg.tokenizer:
        tokenizer = _load_tokenizer_field(cfg.tokenizer, "tokenizer")
        if (init / "tokenizer.json").is_file():
            init_tok = load_tokenizer(init)
            if init_tok.get_vocab() != tokenizer.get_vocab():
                raise UserError(f"tokenizer: {cfg.tokenizer} is not the tokenizer of the init checkpoint {init}")
    else:
        tokenizer = _load_tokenizer_field(str(init), "init")
    if hf_config.get("vocab_size") != len(tokenizer):
        raise UserError(f"tokenizer: {len(tokenizer)} tokens, but the init checkpoint {init} has vocab_size "
                        f"{hf_config.get('vocab_size')} (tokenizer and model do not match)")
    return model_cfg, tokenizer, weights


def _load_tokenizer_field(path: str | None, field: str):
    from interplay.lm.tokenizer import load_tokenizer

    try:
        return load_tokenizer(path or "")
    except UserError as exc:
        raise UserError(f"{field}: {exc}") from exc


def train(cfg: RunConfig, out: str | Path) -> Path:
    """Run (or resume) the configured training in folder `out`; return the final checkpoint folder."""
    dist = setup_dist()
    with ordered_cpu_kernels(compiles(cfg, dist.device) and dist.device == "cpu"):
        return _train(cfg, Path(out), dist)


def compiles(cfg: RunConfig, device: str) -> bool:
    """Whether the run uses torch.compile: `train.compile: true`, or `auto` on a GPU."""
    return cfg.train.compile is True or (cfg.train.compile == "auto" and device.startswith("cuda"))


@contextmanager
def ordered_cpu_kernels(enabled: bool):
    """Make torch.compile's CPU kernels sum in a fixed order while the block runs (then restore the flags).

    Inductor accumulates some backward ops (the embedding's gradient: an index_put with accumulate)
    with atomic adds from every thread, so the order of a sum, and the last bits of a step, vary from
    run to run: two compiled 1-step runs of cpu-wide on 2 threads gave different weights, while one
    thread or eager mode gave identical ones (and so does this). PyTorch's deterministic mode makes
    inductor use ATen's ordered kernels for those ops; `fill_uninitialized_memory` stays off (it would
    fill every fresh buffer with NaN, a cost with no effect on the result).
    """
    if not enabled:
        yield
        return
    import torch
    import torch.utils.deterministic

    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.utils.deterministic.fill_uninitialized_memory)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.utils.deterministic.fill_uninitialized_memory = before[2]


def _train(cfg: RunConfig, out: Path, dist: Dist) -> Path:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from interplay.lm import checkpoint as ck
    from interplay.lm.metrics import MetricsWriter, eval_line, measure_matmul_peak, peak_flops, step_line
    from interplay.lm.model import build_model, decay_groups
    from interplay.lm.packing import IGNORE, DocRows, TrainRows, build_or_load_cache, eval_rows
    from interplay.lm.stopping import StopOnSignal

    say = (lambda *a: print(*a, flush=True)) if dist.main else (lambda *a: None)
    if dist.device == "cpu":
        torch.set_num_threads(cfg.train.threads or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    final = out / "final"
    if (final / ck.STATE_FILE).is_file():
        say(f"{cfg.stage}: {final} already exists; nothing to do (use a new --out to train again)")
        return final

    model_cfg, tokenizer, init_weights = resolve_model_and_tokenizer(cfg)
    vocab = len(tokenizer)
    if cfg.data.seq_len > model_cfg.max_position_embeddings:
        raise UserError(f"data.seq_len ({cfg.data.seq_len}) exceeds the model's max_position_embeddings "
                        f"({model_cfg.max_position_embeddings})")
    run_dict = cfg.to_dict()
    run_dict["model"] = dict(model_cfg.__dict__)
    run_dict["vocab_size"] = vocab

    B, mb, W = cfg.train.batch_size, cfg.train.micro_batch_size, dist.world
    if B % (mb * W):
        raise UserError(f"train.batch_size ({B}) must be a multiple of train.micro_batch_size ({mb}) x processes ({W})")
    accum = B // (mb * W)
    total = cfg.total_steps()
    T = cfg.data.seq_len

    # --- resume? ------------------------------------------------------------------------------------
    resume_from, state = ck.open_run(out, run_dict, dist)
    if state is not None and state.get("total_steps") != total:
        raise UserError(f"resume: {out} was started for {state.get('total_steps')} steps, this config gives {total}")

    # --- data ----------------------------------------------------------------------------------------
    data_dir = out / "data"
    eval_path = cfg.eval.path or cfg.data.path
    if dist.main:
        data_dir.mkdir(parents=True, exist_ok=True)
        train_cache = build_or_load_cache(data_dir / "train", tokenizer, cfg.data.path, cfg.data.split,
                                          cfg.data.max_documents, "data.path",
                                          ops=tuple(cfg.data.ops) if cfg.data.ops is not None else None)
        eval_cache = build_or_load_cache(data_dir / "eval", tokenizer, eval_path, cfg.eval.split,
                                         cfg.eval.max_documents, "eval.path", spread=True)
    dist.barrier()
    if not dist.main:
        from interplay.lm.packing import load_cache

        train_cache, eval_cache = load_cache(data_dir / "train"), load_cache(data_dir / "eval")
    if Path(eval_path) == Path(cfg.data.path) and Path(eval_path).is_file():
        say(f"{cfg.stage}: warning: eval.path is the training file {eval_path}; held-out loss is not held out")
    left_out = _check_lengths(cfg, train_cache, eval_cache, model_cfg.max_position_embeddings, say)
    if state is not None and state.get("left_out_documents", 0) != left_out:
        # Runs started before over-long documents were left out kept them in the row layout: resuming here
        # would continue with another data order.
        raise UserError(f"resume: {resume_from} was trained with {state.get('left_out_documents', 0)} documents left "
                        f"out, this code leaves out {left_out} (longer than max_position_embeddings); the data order "
                        f"would change: start the run again in a new --out")
    if cfg.data.packing == "docs":
        rows = DocRows(train_cache, T, cfg.train.seed, cfg.data.loss_on, tokenizer.pad_token_id,
                       max_positions=model_cfg.max_position_embeddings)
    else:
        rows = TrainRows(train_cache, T, cfg.train.seed, cfg.data.loss_on)
    evaluation = eval_rows(eval_cache, T, tokenizer.pad_token_id, cfg.data.loss_on)
    if state is not None and state.get("data_fingerprint") != _cache_id(data_dir / "train"):
        raise UserError(f"resume: the training data changed since {resume_from} was written")

    # --- model and optimizer ---------------------------------------------------------------------------
    torch.manual_seed(cfg.train.seed)
    device = torch.device(dist.device)
    use_bf16 = cfg.train.dtype == "bfloat16" or (cfg.train.dtype == "auto" and device.type == "cuda")
    model = build_model(model_cfg, vocab, cfg.train.impl, seed=cfg.train.seed)
    if resume_from is not None:
        _, weights = ck.load_weights(resume_from, "resume")
        model.load_hf_state_dict(weights)
    elif init_weights is not None:
        model.load_hf_state_dict(init_weights)
    model.to(device)
    optimizer = torch.optim.AdamW(
        decay_groups(model, cfg.optim.weight_decay), lr=cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2),
        eps=cfg.optim.eps, fused=True,  # one kernel per step instead of a loop over tensors (CPU and GPU)
    )
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        start = int(state["step"])
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    compile_on = compiles(cfg, dist.device)
    runner = model
    ddp = None
    if W > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        runner = ddp = DDP(model, device_ids=[dist.local_rank] if device.type == "cuda" else None)
        if compile_on:  # the documented order: DDP first, then compile (graphs split at gradient buckets)
            runner = torch.compile(runner)

    def loss_sum_of(ids, pos, labels):
        with autocast():
            logits = runner(ids, pos)
        return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="sum")

    # One process: compile the loss with the model, so inductor also fuses the softmax of the loss.
    step_loss = torch.compile(loss_sum_of) if compile_on and W == 1 else loss_sum_of

    counts = parameter_counts(model_cfg, vocab)
    fpt = flops_per_token(model_cfg, vocab, T)
    peak, peak_how = peak_flops(dist.device, torch.bfloat16 if use_bf16 else torch.float32, cfg.train.peak_tflops)
    say(f"{cfg.stage}: {counts['total']:,} parameters ({counts['non_embedding']:,} non-embedding), vocab {vocab}, "
        f"{cfg.train.impl} impl, {'bf16' if use_bf16 else 'fp32'} on {dist.device} x{W}")
    say(f"{cfg.stage}: {total} steps x {B} rows x {T} tokens = {total * B * T:,} tokens; {accum} micro-batch(es) of "
        f"{mb} per process; data {train_cache.n_docs:,} documents, {train_cache.n_tokens:,} tokens "
        f"({total * B / rows.n_rows:.2f} epochs); held-out {eval_cache.n_docs} documents; "
        f"peak {peak / 1e12:.3f} TFLOP/s ({peak_how})")
    if resume_from is not None:
        say(f"{cfg.stage}: resuming from {resume_from} at step {start}")

    metrics = MetricsWriter(out, start, cfg.log.tensorboard) if dist.main else None
    ranges = cfg.eval.ranges()
    last_good = str(resume_from) if resume_from is not None else None

    def evaluate(step: int) -> None:
        nonlocal peak
        if not dist.main:
            return
        model.eval()
        groups = ranges + [("all", -(2**31), 2**31)]
        sums = {f"{name}{part}": 0.0 for name, _, _ in groups for part in ("", "/solution")}
        ns = {name: 0 for name in sums}
        with torch.no_grad():
            for i in range(0, len(evaluation["input_ids"]), cfg.eval.batch_size):
                batch = {k: torch.from_numpy(v[i : i + cfg.eval.batch_size]).to(device) for k, v in evaluation.items()}
                with autocast():
                    logits = model(batch["input_ids"], batch["position_ids"])
                per_token = F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(),
                                            ignore_index=IGNORE, reduction="none").view_as(batch["labels"])
                valid = batch["labels"] != IGNORE
                for name, lo, hi in groups:
                    sel = valid & (batch["ops"] >= lo) & (batch["ops"] <= hi)
                    for key, chosen in ((name, sel), (f"{name}/solution", sel & batch["solution"])):
                        sums[key] += float(per_token[chosen].sum())
                        ns[key] += int(chosen.sum())
        model.train()
        losses = {name: sums[name] / ns[name] for name in sums if ns[name]}
        say(eval_line(step, losses))
        if device.type == "cpu" and peak_how.startswith("measured"):
            # A CPU shared with other work measures a low peak (and MFU above 100%): the hardware's peak
            # is the best measurement, so look again at every evaluation and keep the highest.
            again = measure_matmul_peak("cpu", torch.float32, n=2048, repeats=3)
            if again > peak * 1.05:
                peak = again
                say(f"{cfg.stage}: peak re-measured: {again / 1e12:.3f} TFLOP/s (MFU from here on uses it)")
        assert metrics is not None
        metrics.write({"step": step, "eval": losses})

    def save(target: Path, step: int) -> None:
        nonlocal last_good
        if dist.main:
            st = {"step": step, "total_steps": total, "optimizer": optimizer.state_dict(),
                  "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()},
                  "data_fingerprint": _cache_id(data_dir / "train"), "rows_consumed": step * B, "world_size": W,
                  "left_out_documents": left_out}
            ck.save_checkpoint(target, model, tokenizer, run_dict, st)
            if target.parent.name == "checkpoints":
                ck.prune_checkpoints(out, cfg.checkpoint.keep)
        last_good = str(target)
        dist.barrier()

    if start == 0 and cfg.eval.every:
        evaluate(0)
    model.train()
    t_start = time.perf_counter()
    recent: deque[float] = deque(maxlen=20)  # last step durations, for the ETA
    lo_r = dist.rank * (B // W)  # this process's first row of each batch
    with StopOnSignal() as stop:
        for step in range(start, total):
            t0, c0 = time.perf_counter(), time.process_time()
            lr = lr_at(step, total, cfg.optim)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = rows.rows(range(step * B, (step + 1) * B))
            n_targets = int((batch["labels"] != IGNORE).sum())
            loss_sum = torch.zeros((), device=device)
            for m in range(accum):
                sl = slice(lo_r + m * mb, lo_r + (m + 1) * mb)
                ids = torch.from_numpy(batch["input_ids"][sl]).to(device)
                pos = torch.from_numpy(batch["position_ids"][sl]).to(device)
                labels = torch.from_numpy(batch["labels"][sl]).to(device)
                sync = W > 1 and m < accum - 1
                with (ddp.no_sync() if sync and ddp is not None else nullcontext()):
                    loss = step_loss(ids, pos, labels)
                    # DDP averages gradients over W processes; the sum over the global batch is what we want.
                    (loss * (W / max(1, n_targets))).backward()
                loss_sum += loss.detach()
            if W > 1:
                import torch.distributed as tdist

                tdist.all_reduce(loss_sum)
            clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            loss_value = float(loss_sum) / max(1, n_targets)
            if not (math.isfinite(loss_value) and math.isfinite(float(grad_norm))):
                optimizer.zero_grad(set_to_none=True)
                if metrics is not None:
                    metrics.close()
                what = "loss" if not math.isfinite(loss_value) else "gradient norm"
                raise TrainingDiverged(
                    f"{what} became {loss_value if what == 'loss' else float(grad_norm)} at step {step + 1} (lr {lr:.3e}); "
                    f"the last good checkpoint is kept: {last_good or 'none was written yet'}. "
                    "Lower optim.lr, raise optim.warmup_steps or set optim.grad_clip")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            cpu_dt = time.process_time() - c0  # with wall time, shows how much a shared CPU slowed the step
            done = step + 1
            tok_s = B * T / dt
            mfu = fpt * tok_s / (peak * W)
            recent.append(dt)
            # The median of recent steps: a paused or briefly contended run does not inflate the ETA for good.
            eta = statistics.median(recent) * (total - done)
            if metrics is not None:
                metrics.write({"step": done, "loss": loss_value, "lr": lr, "grad_norm": float(grad_norm),
                               "tokens": done * B * T, "targets": n_targets, "tok_per_s": tok_s, "mfu": mfu, "step_s": dt,
                               "step_cpu_s": cpu_dt})
                if done % cfg.log.every == 0 or done == total or done == start + 1:
                    say(step_line(done, total, loss_value, lr, tok_s, mfu, time.perf_counter() - t_start, eta))
            if cfg.eval.every and done % cfg.eval.every == 0 and done != total:
                evaluate(done)
            stop.end_step(cfg.stage, done, total, cfg.checkpoint.every, ck.step_dir(out, done), save, metrics, say,
                          W, device)
    evaluate(total)
    save(final, total)
    if metrics is not None:
        metrics.close()
    say(f"{cfg.stage}: done, {total} steps in {time.perf_counter() - t_start:.1f}s; final checkpoint {final}")
    dist.close()
    sys.stdout.flush()
    return final


def _cache_id(folder: Path) -> str:
    import json

    return json.loads((folder / "meta.json").read_text())["fingerprint"]
