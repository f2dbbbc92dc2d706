"""Reinforcement learning with verifier rewards (GRPO), on prompts chosen relative to the model's competence.

    interplay rl configs/rl-tiny.yaml --out runs/rl-tiny [--set key=value ...]

Modules:
    config    the RL run config (YAML + --set overrides, validated before any compute)
    grpo      the maths: group advantages, clipped ratio loss, k3 KL, token-mean, entropy
    data      RL prompts: op range / context mix from a corpus split, edge-of-competence filter,
              deterministic per-step batches
    rollout   r completions per prompt from the KV-cached sampler, scored by the verifier's reward
    learner   policy / reference models, log-probs, the optimiser mini-batches of one step
    trainer   the loop: rollouts, updates, metrics, checkpoints, exact resume, torchrun DDP
    cli       `interplay rl`
Compute accounting (`interplay budget`) lives in `interplay.budget`.
"""
