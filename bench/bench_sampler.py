"""Benchmark: interplay's sampler vs `model.generate` from transformers, same model, same run.

    .venv/bin/python bench/bench_sampler.py            # the BENCHMARKS.md configuration
    .venv/bin/python bench/bench_sampler.py --runs 1 --new-tokens 32   # a quick look

Both sides: one randomly initialised Qwen2 (default ~4.5M parameters: hidden 256, 4 layers, 4 heads,
2 KV heads, FFN 1024, vocab 2240, tied embeddings), one prompt of --prompt-len tokens, --batch samples
of it, exactly --new-tokens new tokens each (stops disabled on both sides so the lengths are equal),
temperature 0.7, no top-k / top-p. Runs alternate between the two samplers; the medians are reported.
Throughput = generated tokens / wall-clock seconds, prompt encoding included; also per CPU-second of
the process (`time.process_time`), which other processes on a shared machine dilute less (with one
thread; with more, waiting threads can spin and count).

With --model DIR --problems P: the evaluation case instead. A trained checkpoint, the first eval problem
of --op as the prompt, --batch samples of it, both sides stopping at </answer> or EOS with --new-tokens as
the maximum (as `interplay eval` samples). Throughput counts useful tokens only (up to each row's stop):
`generate` keeps computing finished rows until the last one stops; our sampler drops them.

    .venv/bin/python bench/bench_sampler.py --model runs/pretrain-cpu/final --problems runs/corpus-cpu --op 4
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--ffn", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=2240)
    parser.add_argument("--prompt-len", type=int, default=160)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--skip-hf", action="store_true", help="time only interplay's sampler")
    parser.add_argument("--model", help="a trained checkpoint folder: sample a real problem instead of random "
                        "tokens, both sides stopping at </answer> or EOS (--new-tokens is then the maximum)")
    parser.add_argument("--problems", help="with --model: problems (a corpus folder or a problems file)")
    parser.add_argument("--op", type=int, default=4, help="with --model: use the first eval problem of this op")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both samplers run there)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()

    import torch

    from interplay.lm.sampler import Request, Sampler, SamplingConfig
    from interplay.lm.sampling.toy import toy_model, toy_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model:
        model, sampler, prompt, config = _trained(args)
    else:
        model = toy_model(args.vocab, args.hidden, args.layers, args.heads, args.kv_heads, args.ffn, seed=0)
        model = model.to(args.device, getattr(torch, args.dtype))
        sampler = Sampler(model, toy_tokenizer(args.vocab))
        g = torch.Generator().manual_seed(0)
        prompt = torch.randint(10, args.vocab, (args.prompt_len,), generator=g).tolist()
        config = SamplingConfig(
            temperature=args.temperature, max_new_tokens=args.new_tokens, stop_token_ids=(), stop_at_eos=False,
            max_batch_rows=args.batch,
        )
        model.generation_config.eos_token_id = None  # no early stop: every row makes --new-tokens tokens
    params = sum(p.numel() for p in model.parameters())
    requests = [Request(tuple(prompt), j) for j in range(args.batch)]
    stop = sorted(sampler.stop_ids(config) | ({sampler.eos_token_id} if config.stop_at_eos else set()) - {None})

    def ours() -> int:
        return sum(len(c.token_ids) for c in sampler.generate(requests, config))

    def hf() -> int:
        with torch.inference_mode():
            out = model.generate(
                torch.tensor([prompt], device=args.device), do_sample=True, temperature=args.temperature, top_k=0, top_p=1.0,
                num_return_sequences=args.batch, max_new_tokens=args.new_tokens, pad_token_id=1,
                eos_token_id=stop or None,
            )
        new = out[:, len(prompt):].cpu()  # (also waits for the GPU, so the timing is complete)
        if not stop:
            return new.numel()
        # Useful tokens only: up to and including each row's first stop token (generate pads after it).
        is_stop = torch.isin(new, torch.tensor(stop))
        first = torch.where(is_stop.any(1), is_stop.int().argmax(1) + 1, torch.full((new.shape[0],), new.shape[1]))
        return int(first.sum())

    times: dict[str, list[float]] = {"interplay": [], "transformers": []}
    cpu: dict[str, list[float]] = {"interplay": [], "transformers": []}
    tokens: dict[str, int] = {}
    ours()  # warm-up (allocator, thread pools, kernels)
    for _ in range(args.runs):
        for name, fn in (("interplay", ours), ("transformers", hf)):
            if name == "transformers" and args.skip_hf:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            tokens[name] = fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    result = {
        "machine": (torch.cuda.get_device_name() if args.device.startswith("cuda") else
                    f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"),
        "torch": torch.__version__,
        "params": params,
        "setup": vars(args),
    }
    for name, ts in times.items():
        if ts:
            med, cmed = statistics.median(ts), statistics.median(cpu[name])
            result[name] = {"seconds": [round(t, 3) for t in ts], "median_s": round(med, 3),
                            "cpu_seconds": [round(t, 3) for t in cpu[name]], "median_cpu_s": round(cmed, 3),
                            "tokens": tokens[name], "tokens_per_s": round(tokens[name] / med, 1),
                            "tokens_per_cpu_s": round(tokens[name] / cmed, 1)}
    if times["transformers"]:
        result["speedup"] = round(result["interplay"]["tokens_per_s"] / result["transformers"]["tokens_per_s"], 2)
        result["speedup_cpu_time"] = round(
            result["interplay"]["tokens_per_cpu_s"] / result["transformers"]["tokens_per_cpu_s"], 2)
    print(json.dumps(result, indent=2))


def _trained(args):
    """A trained checkpoint and one real prompt; both samplers stop at </answer> (and EOS)."""
    import torch
    from transformers import AutoModelForCausalLM

    from interplay.evaluate.problems import load_problems
    from interplay.lm.sampler import Sampler, SamplingConfig
    from interplay.text import format_prompt

    if not args.problems:
        raise SystemExit("--model needs --problems (a corpus folder or problems file)")
    sampler = Sampler.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=getattr(torch, args.dtype)).to(args.device).eval()
    problems = [p for p in load_problems(args.problems) if p["op"] == args.op]
    if not problems:
        raise SystemExit(f"no problem of op {args.op} in {args.problems}")
    prompt = list(sampler.encode(format_prompt(problems[0])))
    config = SamplingConfig(temperature=args.temperature, max_new_tokens=args.new_tokens, max_batch_rows=args.batch)
    return model, sampler, prompt, config


if __name__ == "__main__":
    main()
