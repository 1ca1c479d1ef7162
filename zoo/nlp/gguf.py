"""Reading GGUF files (llama.cpp's format): metadata, tokenizer, weights.

The file is parsed by the `gguf` package (the format's reference reader,
maintained with llama.cpp) and its quantised tensors dequantised to float32
by that package's NumPy code (`gguf.quants.dequantize`). What zoo adds:

- an allow-list of tensor types (`SUPPORTED_TYPES`); any other is refused
  naming it, before anything is dequantised;
- an allow-list of architectures (`ARCHITECTURES`), refused likewise;
- llama.cpp's converter permutes the rows of `attn_q` and `attn_k` so that
  its interleaved rotary embedding works; `unpermute_rotary_rows` undoes it,
  giving the half-split layout of Hugging Face's `LlamaForCausalLM` (the
  inverse of `convert_hf_to_gguf.py`'s `permute`, as transformers' GGUF
  loader does).

```python
from zoo.nlp.gguf import GGUFFile

f = GGUFFile(path)
f.architecture, f.config()      # "llama", {"num_layers": 30, ...}
weights = f.tensor("blk.0.attn_q.weight")   # float32 [out, in]
```
"""

import logging
import os

import numpy as np

from zoo.errors import WeightsError

logger = logging.getLogger("zoo")

#: GGML tensor types zoo dequantises (names of `gguf.GGMLQuantizationType`).
SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                   "Q5_1")

#: GGUF architectures zoo builds, and the zoo decoder they map to.
ARCHITECTURES = {"llama": "llama"}


def unpermute_rotary_rows(weight, num_heads):
    """Undoes llama.cpp's row permutation of a query or key projection.

    llama.cpp stores, within each head, the rows of the two rotary halves
    interleaved (row `2i` from the first half, `2i + 1` from the second);
    Hugging Face's layout keeps the halves contiguous.

    Args:
        weight: `[num_heads * head_dim, in]` (or `[num_heads * head_dim]`).
        num_heads: heads of this projection (key/value heads for `attn_k`).

    Returns:
        the array with each head's rows in Hugging Face's order.
    """
    rows = weight.shape[0]
    if rows % (2 * num_heads):
        raise WeightsError(
            f"A rotary projection of {rows} rows cannot be split into "
            f"{num_heads} heads of an even size.")
    half = rows // num_heads // 2
    rest = weight.shape[1:]
    return (weight.reshape((num_heads, half, 2) + rest)
            .swapaxes(1, 2).reshape(weight.shape))


def _field_value(field):
    value = field.contents()
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    return value


class GGUFFile:
    """A GGUF file's metadata and tensors (read lazily: `tensor()`
    dequantises one at a time).

    Args:
        path: the `.gguf` file.

    Raises:
        WeightsError: not a GGUF file, or an architecture zoo has no
            decoder for (the message names it and the ones it has).
    """

    def __init__(self, path):
        import gguf

        self.path = os.fspath(path)
        try:
            self._reader = gguf.GGUFReader(self.path)
        except (ValueError, OSError) as error:
            raise WeightsError(
                f"{self.path} is not a readable GGUF file: {error}") from None
        self.metadata = {name: _field_value(field)
                         for name, field in self._reader.fields.items()
                         if not name.startswith("GGUF.")}
        self.architecture = self.metadata.get("general.architecture")
        if self.architecture not in ARCHITECTURES:
            raise WeightsError(
                f"{self.path}: GGUF architecture {self.architecture!r} is "
                f"not one zoo builds; it builds {sorted(ARCHITECTURES)}.")
        self._tensors = {t.name: t for t in self._reader.tensors}
        unsupported = sorted({t.tensor_type.name for t in self._tensors.values()
                              if t.tensor_type.name not in SUPPORTED_TYPES})
        if unsupported:
            raise WeightsError(
                f"{self.path}: GGUF tensor type(s) {unsupported} are not "
                f"dequantised by zoo; it reads {list(SUPPORTED_TYPES)}.")

    def names(self):
        """The tensor names, in file order."""
        return list(self._tensors)

    def get(self, key, default=None):
        """A metadata value by its full key (`"llama.block_count"`)."""
        return self.metadata.get(key, default)

    def _arch(self, key, default=None):
        return self.metadata.get(f"{self.architecture}.{key}", default)

    def config(self):
        """The decoder's arguments (`LlamaBackbone`'s names) from the
        metadata.

        Raises:
            WeightsError: a key the decoder needs is missing.
        """
        def need(key):
            value = self._arch(key)
            if value is None:
                raise WeightsError(
                    f"{self.path}: GGUF metadata has no "
                    f"{self.architecture}.{key}.")
            return value

        hidden = int(need("embedding_length"))
        heads = int(need("attention.head_count"))
        rotary = self._arch("rope.dimension_count")
        if rotary is not None and int(rotary) != hidden // heads:
            raise WeightsError(
                f"{self.path}: a rotary embedding over {rotary} of "
                f"{hidden // heads} head dimensions is not built by zoo.")
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        vocabulary = self._arch("vocab_size") or (
            len(tokens) if tokens else None)
        if vocabulary is None:
            raise WeightsError(f"{self.path}: GGUF metadata gives no "
                               "vocabulary size.")
        return {
            "vocabulary_size": int(vocabulary),
            "num_layers": int(need("block_count")),
            "hidden_size": hidden,
            "intermediate_size": int(need("feed_forward_length")),
            "num_heads": heads,
            "num_key_value_heads": int(self._arch("attention.head_count_kv",
                                                  heads)),
            "rope_max_wavelength": float(self._arch("rope.freq_base",
                                                    10000.0)),
            "norm_epsilon": float(need("attention.layer_norm_rms_epsilon")),
            "max_sequence_length": int(self._arch("context_length", 2048)),
            "tie_word_embeddings": "output.weight" not in self._tensors,
        }

    def tensor(self, name):
        """One tensor as float32, in PyTorch's `[out, in]` order.

        Raises:
            WeightsError: no tensor of that name.
        """
        from gguf.quants import dequantize

        if name not in self._tensors:
            raise WeightsError(f"{self.path} has no tensor {name!r}.")
        t = self._tensors[name]
        array = dequantize(t.data, t.tensor_type)
        # ggml lists dimensions fastest first: [in, out] is [out, in] here.
        shape = tuple(int(d) for d in reversed(t.shape))
        return np.asarray(array, dtype="float32").reshape(shape)

    def tokenizer_data(self):
        """What the byte-level BPE tokenizer needs: `tokens`, `merges`,
        `token_types`, special ids, the pre-tokenizer name and the chat
        template (None where the file has none).

        Raises:
            WeightsError: the tokenizer is not byte-level BPE (`gpt2`).
        """
        model = self.metadata.get("tokenizer.ggml.model")
        if model != "gpt2":
            raise WeightsError(
                f"{self.path}: GGUF tokenizer model {model!r} is not the "
                "byte-level BPE ('gpt2') zoo reads.")

        def ids(key):
            value = self.metadata.get(f"tokenizer.ggml.{key}")
            return None if value is None else int(value)

        return {
            "tokens": list(self.metadata["tokenizer.ggml.tokens"]),
            "merges": list(self.metadata.get("tokenizer.ggml.merges", [])),
            "token_types": list(self.metadata.get(
                "tokenizer.ggml.token_type", [])),
            "bos_token_id": ids("bos_token_id"),
            "eos_token_id": ids("eos_token_id"),
            "pad_token_id": ids("padding_token_id"),
            "unknown_token_id": ids("unknown_token_id"),
            "add_bos_token": bool(self.metadata.get(
                "tokenizer.ggml.add_bos_token", False)),
            "pre_tokenizer": self.metadata.get("tokenizer.ggml.pre"),
            "chat_template": self.metadata.get("tokenizer.chat_template"),
        }

    def tokenizer(self):
        """The file's `BytePairTokenizer` (with its chat template)."""
        from zoo.nlp.bpe import BytePairTokenizer

        data = self.tokenizer_data()
        return BytePairTokenizer(
            data["tokens"], data["merges"], token_types=data["token_types"],
            pre_tokenizer=data["pre_tokenizer"] or "gpt2",
            bos_token_id=data["bos_token_id"],
            eos_token_id=data["eos_token_id"],
            pad_token_id=data["pad_token_id"],
            add_bos_token=data["add_bos_token"],
            chat_template=data["chat_template"])
