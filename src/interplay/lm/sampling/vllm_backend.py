"""The optional vLLM backend (GPU): the same `encode` / `generate(requests, config)` / `Completion`s.

Used only when asked for (`--backend vllm`) and when `import vllm` works; nothing else imports it.
Prompts go in as token ids and completions come back as token ids, decoded by our own tokenizer, so
vLLM's tokenizer loading (which, like AutoTokenizer, may rebuild ours as a Qwen2Tokenizer) never
touches the text. Each request carries its own seed, derived from the same per-sample key as the
torch backend, so a vLLM completion does not depend on its batch either — but the two backends draw
different random numbers, so their samples differ (their statistics do not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from interplay.errors import UserError


class VLLMSampler:
    def __init__(self, path: str | Path, dtype: str | None = None, gpu_memory_utilization: float = 0.85):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise UserError(f"--backend vllm: vllm is not installed here ({exc})") from None
        from interplay.lm.sampler import load_folder_tokenizer

        self.tokenizer = load_folder_tokenizer(path)
        self.eos_token_id = self.tokenizer.eos_token_id
        self._hidden_ids = {i for i in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if i is not None}
        self.llm = LLM(model=str(path), dtype=dtype or "auto", seed=0, enable_prefix_caching=True,
                       gpu_memory_utilization=gpu_memory_utilization, skip_tokenizer_init=True)

    def encode(self, prompt: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(prompt, add_special_tokens=False))

    def decode(self, token_ids: Sequence[int]) -> str:
        ids = [t for t in token_ids if t not in self._hidden_ids]
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def generate(
        self, requests: Sequence[Any], config: Any, on_progress: Callable[[int], None] | None = None
    ) -> Iterator[Any]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        from interplay.lm.sampler import STOP_TOKEN, Completion
        from interplay.lm.sampling.rng import sample_key

        config.validate()
        vocab = self.tokenizer.get_vocab()
        if config.stop_token_ids is not None:
            stop = set(config.stop_token_ids)
        else:
            stop = {vocab[STOP_TOKEN]} if STOP_TOKEN in vocab else set()
        for start in range(0, len(requests), config.max_batch_rows):
            chunk = list(requests[start : start + config.max_batch_rows])
            params = [
                SamplingParams(
                    n=1,
                    temperature=config.temperature,
                    top_p=config.top_p,
                    top_k=config.top_k if config.top_k > 0 else -1,
                    max_tokens=config.max_new_tokens,
                    seed=sample_key(config.seed, r.prompt_ids, r.sample_index) >> 1,  # vLLM wants < 2**63
                    stop_token_ids=sorted(stop),
                    ignore_eos=not config.stop_at_eos,
                    detokenize=False,
                )
                for r in chunk
            ]
            prompts = [TokensPrompt(prompt_token_ids=list(r.prompt_ids)) for r in chunk]
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            for r, out in zip(chunk, outputs, strict=True):
                o = out.outputs[0]
                ids = list(o.token_ids)
                if o.finish_reason == "length":
                    reason = "length"
                elif isinstance(o.stop_reason, int):  # a stop token id; make sure it ends the ids, as ours do
                    if not ids or ids[-1] != o.stop_reason:
                        ids.append(o.stop_reason)
                    reason = "stop"
                else:
                    if not ids or ids[-1] != self.eos_token_id:
                        ids.append(self.eos_token_id)
                    reason = "eos"
                yield Completion(r.prompt_index, r.sample_index, ids, self.decode(ids), reason)
            if on_progress is not None:
                on_progress(len(chunk))
