"""interplay: a laboratory for how pre-training, mid-training and RL shape reasoning.

The pipeline, one subpackage per stage:

    world  -> corpus -> lm (tokenizer, pre/mid-training, sampler) -> rl -> verify/eval -> studies

The world and the verifier are pure Python and never import torch, so that
`interplay sample` and `interplay verify` start instantly.
"""

__version__ = "0.1.0"
