"""Batched sampling from a causal LM folder: n completions per prompt, fast and reproducible.

    sampler = Sampler.from_pretrained("runs/pretrain/final")
    groups = sampler.sample([format_prompt(r) for r in records], SamplingConfig(n=128, temperature=0.7))
    groups[i][j].text   # the j-th completion of prompt i (what the model wrote after `<solution>`)

Guarantees (tested):

* **Keyed randomness.** Sample j of a prompt draws its t-th token from a uniform that is a pure
  function of (seed, the prompt's token ids, j, t) — see `sampling.rng`. So a completion does not
  depend on the batch it ran in, on the batch size, or on which other samples were asked for at the
  same time (an interrupted evaluation that asks only for the missing sample indices gets the same
  completions it would have got in one go).
* **Padding-free positions.** Prompts of different lengths are right-padded; each row writes and
  reads the cache at its own positions (see `sampling.decoder`). Logits may differ from a solo run in
  the last float bits (BLAS kernels depend on the matrix shapes), which can change a token only if the
  row's uniform falls within ~1e-7 of a boundary between two tokens.
* **Stops.** A row ends at a stop token (by default `</answer>` when the tokenizer has it), at the
  end-of-sequence token (unless `stop_at_eos=False`), or after `max_new_tokens`; the stop token is
  part of the completion's token ids and text (end-of-sequence and padding are left out of the text).
* Finished rows are dropped from the running batch (the cache is compacted) once enough of them
  have accumulated to pay for the copy.

The sampler copies the model's weights into fused matrices when it is made: after the model's
weights change (an RL step), make a new Sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interplay.errors import UserError

STOP_TOKEN = "</answer>"
# Compact the cache when at least this fraction of its rows have finished (the copy costs about one
# decode step's worth of memory traffic; the saving is that fraction of every later step).
COMPACT_FRACTION = 0.25


@dataclass
class SamplingConfig:
    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k truncation
    max_new_tokens: int = 512
    seed: int = 0
    # None = the tokenizer's `</answer>` when it has one; () = no stop token.
    stop_token_ids: tuple[int, ...] | None = None
    stop_at_eos: bool = True
    max_batch_rows: int = 128  # rows (samples) decoded together

    def validate(self) -> SamplingConfig:
        if not isinstance(self.n, int) or self.n < 1:
            raise UserError(f"n must be a positive integer, got {self.n!r}")
        if not (self.temperature >= 0.0):
            raise UserError(f"temperature must be >= 0 (0 = greedy), got {self.temperature!r}")
        if not (0.0 < self.top_p <= 1.0):
            raise UserError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise UserError(f"top_k must be an integer >= 0 (0 = off), got {self.top_k!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        if not isinstance(self.max_batch_rows, int) or self.max_batch_rows < 1:
            raise UserError(f"max_batch_rows must be a positive integer, got {self.max_batch_rows!r}")
        if not isinstance(self.seed, int):
            raise UserError(f"seed must be an integer, got {self.seed!r}")
        return self


@dataclass
class Completion:
    prompt_index: int  # index into the prompts / requests given to the sampler
    sample_index: int  # j in 0..n-1: the sample's identity, part of its random key
    token_ids: list[int]
    text: str
    finish_reason: str  # "stop" (stop token), "eos" (end of sequence) or "length" (max_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_index": self.sample_index,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "num_tokens": len(self.token_ids),
        }


BACKENDS = ("torch", "vllm")
DTYPES = ("auto", "float32", "bfloat16")


def resolve_device(device: str | None) -> str:
    """`None` = cuda when there is a GPU, else cpu."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | None, device: str) -> str:
    """`auto` = bf16 on a GPU, fp32 on a CPU (bf16 matmuls are ~25x slower on CPUs without AVX-512),
    the same rule as training and RL rollouts."""
    if dtype in (None, "auto"):
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise UserError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dtype


def load_sampler(path: str | Path, backend: str = "torch", device: str | None = None, dtype: str = "auto") -> Any:
    """A sampler for a model folder: ours (`torch`, CPU or GPU) or vLLM's (`vllm`, GPU, optional)."""
    if backend == "torch":
        device = resolve_device(device)
        return Sampler.from_pretrained(path, device=device, dtype=resolve_dtype(dtype, device))
    if backend == "vllm":
        from interplay.lm.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(path, dtype=resolve_dtype(dtype, "cuda"))
    raise UserError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def load_folder_tokenizer(path: str | Path) -> Any:
    """The tokenizer stored in a model folder, exactly as its tokenizer.json defines it.

    Not `AutoTokenizer`: in transformers 5, a folder whose config.json says model_type "qwen2" makes
    AutoTokenizer build a Qwen2Tokenizer, which replaces the stored pre-tokenizer and decoder with
    Qwen2's own (our number-aware BPE then encodes the same text into different ids).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(path)
    try:
        if (path / "tokenizer.json").is_file():
            return PreTrainedTokenizerFast.from_pretrained(str(path))
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise UserError(f"model: cannot load a tokenizer from {path} ({exc})") from exc


@dataclass(frozen=True)
class Request:
    """One completion to make: a tokenised prompt and the sample index that keys its randomness."""

    prompt_ids: tuple[int, ...]
    sample_index: int
    prompt_index: int = 0  # carried through to the Completion, for the caller's bookkeeping


@dataclass
class _Chunk:
    requests: list[Request]
    prompts: list[tuple[int, ...]] = field(default_factory=list)
    row_source: list[int] = field(default_factory=list)


class Sampler:
    """Sampling for a loaded Hugging Face Qwen2/Llama-style model and its tokenizer (torch backend)."""

    def __init__(self, model: Any, tokenizer: Any):
        from interplay.lm.sampling.decoder import CachedDecoder

        model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.decoder = CachedDecoder(model)
        self.eos_token_id = tokenizer.eos_token_id
        hidden = {tokenizer.eos_token_id, tokenizer.pad_token_id}
        self._hidden_ids = {i for i in hidden if i is not None}

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | None = None, dtype: str | None = None) -> Sampler:
        """Load a model folder (weights, config and tokenizer side by side, as `save_pretrained` writes).

        `dtype` None keeps fp32 on any device (the exact reference for tests); "auto" is bf16 on a GPU.
        """
        import torch
        from transformers import AutoModelForCausalLM

        path = Path(path)
        if not (path / "config.json").is_file():
            raise UserError(f"model: {path} is not a model folder (no config.json)")
        device = resolve_device(device)
        if dtype == "auto":
            dtype = resolve_dtype(dtype, device)
        torch_dtype = {None: None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        if dtype not in torch_dtype:
            raise UserError(f"dtype must be one of auto, float32, bfloat16, float16, got {dtype!r}")
        tokenizer = load_folder_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype[dtype] or torch.float32)
        return cls(model.to(device), tokenizer)

    # -- text helpers --------------------------------------------------------------------------
    def encode(self, prompt: str) -> tuple[int, ...]:
        # Training documents carry no BOS (interplay.lm.tokenizer.encode_document), so neither do prompts.
        return tuple(self.tokenizer.encode(prompt, add_special_tokens=False))

    def decode(self, token_ids: Sequence[int]) -> str:
        ids = [t for t in token_ids if t not in self._hidden_ids]
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def stop_ids(self, config: SamplingConfig) -> set[int]:
        if config.stop_token_ids is not None:
            return set(config.stop_token_ids)
        vocab = self.tokenizer.get_vocab()
        return {vocab[STOP_TOKEN]} if STOP_TOKEN in vocab else set()

    # -- sampling ------------------------------------------------------------------------------
    def sample(
        self,
        prompts: Sequence[str],
        config: SamplingConfig,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        """`config.n` completions of every prompt: result[i][j] is sample j of prompt i."""
        config.validate()
        requests = [
            Request(self.encode(p), j, prompt_index=i) for i, p in enumerate(prompts) for j in range(config.n)
        ]
        out: list[list[Completion]] = [[None] * config.n for _ in prompts]  # type: ignore[list-item]
        for c in self.generate(requests, config, on_progress=on_progress):
            out[c.prompt_index][c.sample_index] = c
        return out

    def generate(
        self,
        requests: Sequence[Request],
        config: SamplingConfig,
        on_progress: Callable[[int], None] | None = None,
    ) -> Iterator[Completion]:
        """Completions for `requests`, yielded batch by batch (in request order within a batch).

        `config.n` is ignored here: every request is one sample. Put the samples of one prompt next
        to each other so that a batch encodes each distinct prompt once.
        """
        config.validate()
        for r in requests:
            if not r.prompt_ids:
                raise UserError("prompt is empty (no tokens)")
        stop = self.stop_ids(config)
        if config.stop_at_eos and self.eos_token_id is not None:
            stop.add(self.eos_token_id)
        for start in range(0, len(requests), config.max_batch_rows):
            chunk = _Chunk(list(requests[start : start + config.max_batch_rows]))
            yield from self._run_chunk(chunk, config, stop, on_progress)

    def _run_chunk(
        self,
        chunk: _Chunk,
        config: SamplingConfig,
        stop: set[int],
        on_progress: Callable[[int], None] | None,
    ) -> Iterator[Completion]:
        import numpy as np
        import torch

        from interplay.lm.sampling.rng import sample_key, uniforms
        from interplay.lm.sampling.select import choose_tokens

        dec = self.decoder
        device = dec.device
        index_of: dict[tuple[int, ...], int] = {}
        for r in chunk.requests:
            if r.prompt_ids not in index_of:
                index_of[r.prompt_ids] = len(chunk.prompts)
                chunk.prompts.append(r.prompt_ids)
        # Rows of one prompt side by side, so they can share its cache (randomness is keyed, so the
        # order of rows changes nothing); completions are yielded in request order at the end.
        given = list(chunk.requests)
        order = sorted(range(len(given)), key=lambda i: index_of[given[i].prompt_ids])
        chunk.requests = [given[i] for i in order]
        chunk.row_source = [index_of[r.prompt_ids] for r in chunk.requests]
        lengths = np.array([len(p) for p in chunk.prompts], dtype=np.int64)
        prompt_len = int(lengths.max())
        ids = np.zeros((len(chunk.prompts), prompt_len), dtype=np.int64)  # right padding (never seen)
        for i, p in enumerate(chunk.prompts):
            ids[i, : len(p)] = p
        rows = len(chunk.requests)
        row_source = torch.tensor(chunk.row_source, device=device)
        cache, logits = dec.prefill(
            torch.from_numpy(ids).to(device), torch.from_numpy(lengths).to(device), row_source, config.max_new_tokens
        )
        logits = logits.index_select(0, row_source)

        keys = np.array(
            [sample_key(config.seed, r.prompt_ids, r.sample_index) for r in chunk.requests], dtype=np.uint64
        )
        generated: list[list[int]] = [[] for _ in range(rows)]
        reasons: list[str] = [""] * rows
        live = np.arange(rows)  # cache row -> chunk row
        running = np.ones(rows, dtype=bool)  # per cache row: still generating?
        for step in range(config.max_new_tokens):
            u = torch.from_numpy(uniforms(keys[live], np.full(len(live), step, dtype=np.uint64)))
            tokens = choose_tokens(logits, u, temperature=config.temperature, top_k=config.top_k, top_p=config.top_p)
            tokens_np = tokens.cpu().numpy()
            finished_now = 0
            for cache_row in np.flatnonzero(running):
                row = live[cache_row]
                tok = int(tokens_np[cache_row])
                generated[row].append(tok)
                if tok in stop:
                    running[cache_row] = False
                    reasons[row] = "eos" if tok == self.eos_token_id and config.stop_at_eos else "stop"
                    finished_now += 1
            if step == config.max_new_tokens - 1:
                for cache_row in np.flatnonzero(running):
                    reasons[live[cache_row]] = "length"
                finished_now += int(running.sum())
                running[:] = False
            if on_progress is not None and finished_now:
                on_progress(finished_now)
            if not running.any():
                break
            dead = int((~running).sum())
            if dead and dead >= COMPACT_FRACTION * len(live):
                keep = np.flatnonzero(running)
                cache.keep(torch.from_numpy(keep).to(device))
                live, tokens_np = live[keep], tokens_np[keep]
                running = np.ones(len(live), dtype=bool)
            # Finished rows not yet compacted away are fed too; what they compute is never read.
            logits = dec.decode(cache, torch.from_numpy(tokens_np).to(device), step)
        done: list[Completion | None] = [None] * rows
        for row, r in enumerate(chunk.requests):
            done[order[row]] = Completion(
                prompt_index=r.prompt_index,
                sample_index=r.sample_index,
                token_ids=generated[row],
                text=self.decode(generated[row]),
                finish_reason=reasons[row],
            )
        yield from done  # type: ignore[misc]
