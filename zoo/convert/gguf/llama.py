"""GGUF `llama` files -> `LlamaBackbone`.

| GGUF tensor                      | zoo weight                                   |
|----------------------------------|----------------------------------------------|
| `token_embd.weight`              | `token_embedding/embeddings`                 |
| `blk.{i}.attn_norm.weight`       | `transformer_layer_{i}/attention_norm/scale` |
| `blk.{i}.attn_{q,k,v}.weight`    | `.../attention/{query,key,value}/kernel` (transposed; q and k rows un-permuted) |
| `blk.{i}.attn_output.weight`     | `.../attention/output/kernel` (transposed)   |
| `blk.{i}.ffn_norm.weight`        | `.../feed_forward_norm/scale`                |
| `blk.{i}.ffn_{gate,up,down}.weight` | `.../feed_forward_{gate,intermediate,output}/kernel` (transposed) |
| `output_norm.weight`             | `final_norm/scale`                           |
| `output.weight` (untied only)    | `lm_head/kernel` (transposed)                |
"""

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError
from zoo.nlp.gguf import unpermute_rotary_rows

_PROJECTIONS = {"attn_q": "attention/query", "attn_k": "attention/key",
                "attn_v": "attention/value", "attn_output": "attention/output",
                "ffn_gate": "feed_forward_gate",
                "ffn_up": "feed_forward_intermediate",
                "ffn_down": "feed_forward_output"}


@register_converter
class GGUFLlama(Converter):
    """llama.cpp's `llama` architecture (Llama, SmolLM2, ...)."""

    source = "gguf"
    family = "llama"
    architectures = ("llama",)

    def convert_config(self, gguf_file):
        return None, gguf_file.config()

    def build_backbone(self, gguf_file, **overrides):
        from zoo.nlp.decoders.llama import LlamaBackbone

        _, arguments = self.convert_config(gguf_file)
        name = gguf_file.get("general.basename") or "llama"
        size = gguf_file.get("general.size_label")
        arguments["name"] = f"{name}_{size}".lower() if size else name
        return LlamaBackbone(**{**arguments, **overrides})

    def convert_weights(self, gguf_file, backbone):
        heads = backbone.num_heads
        kv_heads = backbone.num_key_value_heads
        state = {"token_embedding/embeddings":
                 gguf_file.tensor("token_embd.weight"),
                 "final_norm/scale": gguf_file.tensor("output_norm.weight")}
        if backbone.lm_head is not None:
            if "output.weight" not in gguf_file.names():
                raise WeightsError(
                    f"{gguf_file.path} has no output.weight for an untied "
                    "head.")
            state["lm_head/kernel"] = gguf_file.tensor("output.weight").T
        for i in range(backbone.num_layers):
            prefix = f"transformer_layer_{i}"
            state[f"{prefix}/attention_norm/scale"] = gguf_file.tensor(
                f"blk.{i}.attn_norm.weight")
            state[f"{prefix}/feed_forward_norm/scale"] = gguf_file.tensor(
                f"blk.{i}.ffn_norm.weight")
            for source, target in _PROJECTIONS.items():
                weight = gguf_file.tensor(f"blk.{i}.{source}.weight")
                if source == "attn_q":
                    weight = unpermute_rotary_rows(weight, heads)
                elif source == "attn_k":
                    weight = unpermute_rotary_rows(weight, kv_heads)
                state[f"{prefix}/{target}/kernel"] = weight.T
        return state
