"""The world: contexts, an exact-op graph sampler, rendering, and the problem generator.

    from interplay.world import generate
    record = generate(op=8, context="zoo", mode="forward", seed=0, index=0)

Pure Python (no torch): `interplay sample` answers instantly.
"""

from interplay.world.contexts import Context, builtin_contexts, get_context
from interplay.world.generate import MODES, WorldOptions, generate, normalize_mode

__all__ = ["Context", "MODES", "WorldOptions", "builtin_contexts", "generate", "get_context", "normalize_mode"]
