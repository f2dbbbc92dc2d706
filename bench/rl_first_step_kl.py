"""How far one AdamW step at a given learning rate moves a model: a check for RL learning rates.

    .venv/bin/python bench/rl_first_step_kl.py --model DIR/final --eval EVALDIR --lr 5e-5 1e-5 5e-6

Takes completions an evaluation stored (EVALDIR/samples.jsonl, with the problems it read), computes the
model's log-probs of them, makes one AdamW step (fresh optimiser, gradient clipped to 1.0) on the mean
log-prob of those completions (a stand-in for a policy-gradient step: Adam's first step moves every weight
by about the learning rate whatever the gradient's scale), and reports the token-mean k3 KL to the
unmoved model and the largest probability ratio. GRPO's clip (0.2) and KL coefficient assume a step moves
the policy a little; a first step whose KL is of order 0.1 nats/token or more is a large move.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder (our checkpoint format)")
    parser.add_argument("--eval", required=True, help="an `interplay eval` folder (samples.jsonl, eval_config.json)")
    parser.add_argument("--lr", type=float, nargs="+", default=[5e-5, 1e-5, 5e-6])
    parser.add_argument("--samples", type=int, default=16, help="completions used (spread over the file)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from interplay.evaluate.problems import load_problems
    from interplay.lm.checkpoint import load_weights
    from interplay.lm.model import build_model, decay_groups
    from interplay.lm.sampler import load_folder_tokenizer
    from interplay.lm.train import model_config_from_hf
    from interplay.rl.grpo import k3_kl, logprobs_and_entropy
    from interplay.text import format_prompt

    torch.set_num_threads(args.threads)
    eval_dir = Path(args.eval)
    settings = json.loads((eval_dir / "eval_config.json").read_text())
    problems = {p["id"]: p for p in load_problems(settings["problems"], split=settings.get("split", "eval"),
                                                  per_op=settings.get("per_op"))}
    rows = [json.loads(line) for line in (eval_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    rows = rows[:: max(1, len(rows) // args.samples)][: args.samples]
    config, weights = load_weights(Path(args.model))
    tokenizer = load_folder_tokenizer(args.model)
    seqs = [(tokenizer.encode(format_prompt(problems[r["id"]]), add_special_tokens=False),
             tokenizer.encode(r["text"], add_special_tokens=False)) for r in rows]
    seqs = [(p, c) for p, c in seqs if c]

    def model():
        m = build_model(model_config_from_hf(config, "x"), config["vocab_size"])
        m.load_hf_state_dict(weights)
        return m

    def logps(m):
        out = []
        for p, c in seqs:
            ids = torch.tensor([p + c])
            logits = m(ids, torch.arange(ids.shape[1])[None])[0, len(p) - 1: -1]
            out.append(logprobs_and_entropy(logits, torch.tensor(c))[0])
        return out

    with torch.no_grad():
        before = logps(model())
    tokens = sum(len(c) for _, c in seqs)
    print(f"{args.model}: {len(seqs)} completions, {tokens} tokens")
    for lr in args.lr:
        policy = model()
        optimizer = torch.optim.AdamW(decay_groups(policy, 0.0), lr=lr)
        loss = -sum(x.sum() for x in logps(policy)) / tokens
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            after = logps(policy)
        kl = torch.cat([k3_kl(a, b) for a, b in zip(after, before, strict=True)])
        ratio = torch.cat([torch.exp(a - b) for a, b in zip(after, before, strict=True)])
        print(f"lr {lr:.1e}: token-mean k3 KL to the unmoved model {float(kl.mean()):.4f} nats, "
              f"max ratio {float(ratio.max()):.2f}, min ratio {float(ratio.min()):.3f}, "
              f"tokens with |ratio - 1| > 0.2: {float(((ratio - 1).abs() > 0.2).float().mean()):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
