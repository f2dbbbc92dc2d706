"""Attention in training: one masked call (what interplay.lm.model does) vs query chunks that skip masked keys.

    .venv/bin/python bench/bench_attention.py --threads 2 --repeats 7

Why this exists: the profile of the cpu preset's compiled training step puts CPU flash attention
(forward + backward) at about 20% of the time while doing about half of its counted FLOPs, because the
block-diagonal document mask is an explicit tensor and the kernel computes every block. The obvious
way to skip work without a custom kernel is to cut the queries into C chunks and give chunk i only the
keys 0 .. (i+1)T/C (the rest are masked by causality anyway). This measures whether that pays, at the
cpu-wide shape by default (micro-batch 16, 6 heads of 64, T = 512), fwd + bwd, same masks and inputs.
Documents are packed with lengths drawn uniformly from 180-420 tokens (the cpu corpus's range at op 2-6).
Reports the median time per variant (variants interleaved) and the ratio to the single masked call.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def packed_mask(batch: int, T: int, lo: int, hi: int, gen: torch.Generator) -> torch.Tensor:
    pos = []
    for _ in range(batch):
        p: list[int] = []
        while len(p) < T:
            p += range(int(torch.randint(lo, hi + 1, (1,), generator=gen)))
        pos.append(p[:T])
    position_ids = torch.tensor(pos)
    from interplay.lm.model import segment_mask

    return segment_mask(position_ids)


def chunked(q, k, v, mask, chunks: int):
    T = q.shape[2]
    step = T // chunks
    outs = []
    for i in range(chunks):
        end = (i + 1) * step
        outs.append(F.scaled_dot_product_attention(q[:, :, i * step:end], k[:, :, :end], v[:, :, :end],
                                                   attn_mask=mask[:, :, i * step:end, :end]))
    return torch.cat(outs, dim=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--chunks", default="2,4,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    B, H, T, D = args.batch, args.heads, args.seq, args.head_dim
    mask = packed_mask(B, T, 180, 420, gen)
    q, k, v = (torch.randn(B, H, T, D, generator=gen, requires_grad=True) for _ in range(3))
    grad = torch.randn(B, H, T, D, generator=gen)
    variants = {"one masked call": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)}
    for c in (int(x) for x in args.chunks.split(",")):
        variants[f"{c} query chunks"] = lambda c=c: chunked(q, k, v, mask, c)
    reference = variants["one masked call"]().detach()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, fn in variants.items():  # warm-up, and the chunked results equal the single call
        out = fn()
        (out * grad).sum().backward()
        assert torch.allclose(out.detach(), reference, atol=1e-5), name
    for _ in range(args.repeats):
        for name, fn in variants.items():
            q.grad = k.grad = v.grad = None
            t0 = time.perf_counter()
            (fn() * grad).sum().backward()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["one masked call"])
    print(f"attention fwd+bwd, B={B} H={H} T={T} d={D}, {args.threads} threads, median of {args.repeats}:")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:16s} {m * 1e3:8.1f} ms   {base / m:5.2f}x")


if __name__ == "__main__":
    main()
