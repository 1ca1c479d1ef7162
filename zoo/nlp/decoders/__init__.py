"""Decoder-only language models: backbones over token ids, and `CausalLM`."""
