"""Pieces of the batched sampler (`interplay.lm.sampler` is the public entry point).

    rng        counter-based random numbers keyed per sample (batch-invariant sampling)
    select     temperature / top-k / top-p token choice from logits and one uniform per row
    decoder    a KV-cached forward pass over the weights of a HF Qwen2/Llama-style model
    toy        tiny random models and tokenizers for tests and benchmarks
    vllm_backend  the optional vLLM path (GPU), same interface
"""
