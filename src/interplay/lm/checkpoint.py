"""Checkpoints: standard Hugging Face folders plus the state needed to resume exactly.

    DIR/checkpoints/step-00000100/   config.json, generation_config.json, model.safetensors,
                                     tokenizer files, interplay_state.pt (optimizer, step, RNG,
                                     data position), interplay_run.json (the run config)
    DIR/final/                       the same, written when the run ends

Every checkpoint is written into a hidden temporary folder beside its final name, flushed to disk,
and renamed into place in one `os.replace`, so a process killed at any moment (even mid-write)
leaves either the previous checkpoints or the new one, never a half-written folder that looks whole.
Leftover temporary folders are removed on the next start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from interplay import locks
from interplay.errors import UserError

STATE_FILE = "interplay_state.pt"
RUN_FILE = "interplay_run.json"
_STEP_DIR = re.compile(r"step-(\d+)")


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as f:
            os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_top_level_rope_theta(path: Path, theta: float) -> None:
    """transformers 5 writes RoPE's θ only inside `rope_parameters`; 4.x (and vLLM builds on it) read the
    top-level `rope_theta` and, without it, silently use 10,000 instead of our 1e6. Write both."""
    config = json.loads(path.read_text())
    if "rope_theta" not in config:
        config["rope_theta"] = theta
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def save_checkpoint(
    target: Path,
    model,
    tokenizer,
    run_config: dict[str, Any],
    state: dict[str, Any] | None,
) -> Path:
    """Write an HF folder for `model` (+ resume state) atomically at `target`."""
    from safetensors.torch import save_file

    from interplay.lm.tokenizer import save_tokenizer

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    cfg = model.cfg
    special = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
    hf_config = cfg.qwen2_config(model.vocab_size, special)
    hf_config.save_pretrained(str(tmp))
    _keep_top_level_rope_theta(tmp / "config.json", cfg.rope_theta)
    _save_generation_config(tmp, special)
    tensors = {k: v.to("cpu", torch.float32).contiguous() for k, v in model.hf_state_dict().items()}
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    save_tokenizer(tokenizer, tmp)
    (tmp / RUN_FILE).write_text(json.dumps(run_config, indent=1, sort_keys=True) + "\n")
    if state is not None:
        torch.save(state, tmp / STATE_FILE)
    _fsync_tree(tmp)
    if target.exists():  # e.g. re-writing `final` after a crash during its own cleanup
        old = target.parent / f".old-{target.name}-{os.getpid()}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
    return target


def _save_generation_config(folder: Path, special: dict[str, int]) -> None:
    from transformers import GenerationConfig

    GenerationConfig(bos_token_id=special["bos"], eos_token_id=special["eos"], pad_token_id=special["pad"]).save_pretrained(
        str(folder)
    )


def clean_temporaries(folder: Path) -> None:
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith((".tmp-", ".old-")):
                shutil.rmtree(path, ignore_errors=True)


def step_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:08d}"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    folder = out / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _STEP_DIR.fullmatch(path.name)
        if m and (path / STATE_FILE).is_file():
            found.append((int(m.group(1)), path))
    return sorted(found)


def prune_checkpoints(out: Path, keep: int) -> None:
    for _, path in list_checkpoints(out)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def load_state(folder: Path) -> dict[str, Any]:
    try:
        return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt state file is a broken checkpoint, not a bug of ours
        raise UserError(f"checkpoint {folder}: cannot read {STATE_FILE} ({exc})") from exc


def load_run_config(folder: Path) -> dict[str, Any] | None:
    path = folder / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def open_run(out: Path, run_config: dict[str, Any], dist: Any) -> tuple[Path | None, dict[str, Any] | None]:
    """Make the run folder, clear half-written checkpoints, and find the one to resume from.

    Returns (checkpoint folder, its state), or (None, None) for a fresh run. A checkpoint written
    under a different config is refused: resuming it would silently mix two experiments.
    """
    from interplay.lm.trainconfig import config_differences

    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        # Before anything is cleaned: a second run into this folder would delete the first one's
        # half-written checkpoint below, and then both would write checkpoints and metrics here.
        locks.hold_for_process(out / locks.FOLDER_LOCK, f"--out {out}")
        clean_temporaries(out / "checkpoints")
        clean_temporaries(out)
    dist.barrier()
    checkpoints = list_checkpoints(out)
    if not checkpoints:
        return None, None
    resume_from = checkpoints[-1][1]
    diffs = config_differences(load_run_config(resume_from) or {}, run_config)
    if diffs:
        raise UserError(f"resume: {out} was started with a different config: {'; '.join(diffs)}. "
                        "Use the same config (or a new --out)")
    return resume_from, load_state(resume_from)


def load_weights(folder: Path, field: str = "init") -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json as a dict, HF state dict) of a checkpoint folder, with clear errors."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{field}: {folder} is not a checkpoint folder")
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise UserError(f"{field}: {folder} lacks config.json or model.safetensors (not a Hugging Face checkpoint)")
    try:
        config = json.loads(config_path.read_text())
        weights = load_file(str(weights_path))
    except Exception as exc:
        raise UserError(f"{field}: cannot read checkpoint {folder} ({exc})") from exc
    if config.get("model_type") != "qwen2":
        raise UserError(f"{field}: {folder} holds a {config.get('model_type')!r} model, not qwen2")
    return config, weights
