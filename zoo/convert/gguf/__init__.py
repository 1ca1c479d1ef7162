"""GGUF files (llama.cpp) -> zoo decoders, one module per architecture.

`load_causal_lm(path)` builds the `CausalLM` a GGUF file describes (its
decoder, weights, byte-level BPE tokenizer and chat template); `load`
reads a file's weights into a zoo decoder already built.
"""

from zoo.convert import assign_converted, find_converter

SOURCE = "gguf"


def converter_for(gguf_file):
    """The converter of a `GGUFFile`'s architecture."""
    return find_converter(SOURCE, architecture=gguf_file.architecture)


def load(model, path, include_head=True):
    """Reads a GGUF file's weights into a zoo decoder (or its `CausalLM`;
    the head is the backbone's own, so `include_head` is ignored)."""
    del include_head
    from zoo.nlp.gguf import GGUFFile

    gguf_file = GGUFFile(path)
    assign_converted(model, converter_for(gguf_file), gguf_file,
                     include_head=False, source=str(path))


def load_causal_lm(path, **overrides):
    """The `CausalLM` of a GGUF file: decoder, weights and tokenizer.

    Args:
        path: the `.gguf` file.
        **overrides: `LlamaBackbone` arguments replacing the file's
            (`dtype`, `max_sequence_length`, ...).

    Raises:
        WeightsError: an architecture, tensor type or tokenizer zoo does not
            read (named), or weights that do not fit.
        VocabularyError: the tokenizer's size differs from the embedding's.
    """
    from zoo.nlp.decoders.causal_lm import CausalLM
    from zoo.nlp.gguf import GGUFFile

    gguf_file = GGUFFile(path)
    converter = converter_for(gguf_file)
    backbone = converter.build_backbone(gguf_file, **overrides)
    assign_converted(backbone, converter, gguf_file, include_head=False,
                     source=str(path))
    return CausalLM(backbone, tokenizer=gguf_file.tokenizer(),
                    name=overrides.get("name") or backbone.name)
