"""`CausalLM`: a decoder with its language-model head, and `generate`.

```python
lm = zoo.from_preset("smollm2_135m_instruct")
lm.generate(["What is the capital of France?"], max_new_tokens=32, chat=True)
lm.generate(prompts, sampler="top_p", top_p=0.9, temperature=0.7, seed=0)
lm.generate(prompts, sampler="beam", num_beams=4)
```

`model(inputs)` (what `fit` trains) returns next-token logits for every
position. `generate` tokenizes the prompts, pads them on the left to one
length (each row's rotary positions start at its first real token, and its
padding is masked out), fills a key/value cache of static shape with the
prompt, then decodes one token per step with `zoo_ops.decoding` (greedy,
sampling, beam search) inside one compiled function (`jax.jit` on JAX, an
XLA-compiled `tf.function` on TensorFlow), reused while the shapes and
settings are the same. Cached decoding gives exactly the ids of
recomputing the whole sequence at every step (`use_cache=False`, tested).
"""

import keras
import numpy as np
from keras import ops

from zoo.errors import SequenceTooLongError, VocabularyError
from zoo.registry import register_task_model
from zoo.task import Task

#: `generate`'s samplers.
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam")


def bpe_from_files(vocabulary, merges):
    """A GPT-2 style `BytePairTokenizer` from a vocabulary and merges (lists,
    a dict, or the paths of `vocab.json` / `merges.txt`)."""
    import json
    import os

    from zoo.nlp.bpe import BytePairTokenizer

    if isinstance(vocabulary, (str, os.PathLike)):
        with open(vocabulary, encoding="utf-8") as f:
            vocabulary = json.load(f)
    if isinstance(vocabulary, dict):
        tokens = [None] * len(vocabulary)
        for token, index in vocabulary.items():
            tokens[int(index)] = token
        if any(t is None for t in tokens):
            raise VocabularyError("The vocabulary's ids are not 0..n-1.")
        vocabulary = tokens
    if merges is None:
        raise VocabularyError("A byte-level BPE vocabulary needs its merges.")
    if isinstance(merges, (str, os.PathLike)):
        with open(merges, encoding="utf-8") as f:
            merges = [line.rstrip("\n") for line in f
                      if line.strip() and not line.startswith("#version")]
    end = "<|endoftext|>"
    special = [end] if end in vocabulary else []
    end_id = vocabulary.index(end) if special else None
    return BytePairTokenizer(vocabulary, merges, special_tokens=special,
                             bos_token_id=end_id, eos_token_id=end_id)


@keras.saving.register_keras_serializable(package="zoo")
class TokenLogits(keras.layers.Layer):
    """Next-token logits of hidden states through the backbone's head (the
    token embedding transposed when tied), float32."""

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self._backbone = [backbone]  # not tracked: the weights are its own

    def call(self, hidden):
        return self._backbone[0].logits(hidden)

    def compute_output_shape(self, shape):
        return tuple(shape[:-1]) + (self._backbone[0].vocabulary_size,)

    def quantize(self, mode=None, *args, **kwargs):
        """The weights are the backbone's (quantized with it)."""


@register_task_model("causal_lm", needs_num_classes=False)
@keras.saving.register_keras_serializable(package="zoo")
class CausalLM(Task):
    """A decoder-only language model: logits for the next token, and text
    generation.

    Args:
        backbone: a decoder backbone (`LlamaBackbone`) with `logits`,
            `empty_cache` and `call_with_cache`.
        tokenizer: a `BytePairTokenizer` (so `generate` takes strings), or
            None (token ids only).
        vocabulary, merges: instead of `tokenizer`, a byte-level BPE
            vocabulary (a `{token: id}` dict, a list, or the path of a
            `vocab.json`) and its merges (a list of `"a b"`, or the path of
            a `merges.txt`), as GPT-2 ships them; `<|endoftext|>` is then the
            end of sequence.

    Call args:
        `{"token_ids", "padding_mask"}`, `[batch, length]` int32.

    Returns:
        `[batch, length, vocabulary_size]` float32 logits.

    Raises:
        VocabularyError: the tokenizer's vocabulary size differs from the
            backbone's embedding rows (both named).
    """

    def __init__(self, backbone, tokenizer=None, preprocessor=None,
                 vocabulary=None, merges=None, **kwargs):
        inputs = {name: keras.Input((None,), dtype="int32", name=name)
                  for name in ("token_ids", "padding_mask")}
        hidden = backbone(inputs)
        logits = TokenLogits(backbone, name="logits")(hidden)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.tokenizer = None
        self._compiled = {}
        if tokenizer is None and vocabulary is not None:
            tokenizer = bpe_from_files(vocabulary, merges)
        if tokenizer is not None:
            self.set_tokenizer(tokenizer)

    def set_tokenizer(self, tokenizer):
        """Attaches a tokenizer, checking its vocabulary size."""
        size = tokenizer.vocabulary_size()
        if size != self.backbone.vocabulary_size:
            raise VocabularyError(
                f"The tokenizer has {size} tokens but {self.backbone.name} "
                f"embeds {self.backbone.vocabulary_size}.")
        self.tokenizer = tokenizer

    # --- prompts ------------------------------------------------------------

    def _encode(self, prompts, chat):
        if isinstance(prompts, str):
            prompts = [prompts]
        if not chat and len(prompts) and not isinstance(prompts[0], str):
            return [list(map(int, p)) for p in prompts]
        if self.tokenizer is None:
            raise ValueError(
                f"{self.name} has no tokenizer: pass token ids, or load it "
                "with zoo.from_preset (or set_tokenizer).")
        if chat:
            prompts = [self.tokenizer.apply_chat_template(
                p if isinstance(p, list) else
                [{"role": "user", "content": p}]) for p in prompts]
        return [self.tokenizer.encode(p) for p in prompts]

    def _pad_left(self, encoded, max_new_tokens, truncate):
        limit = self.backbone.max_sequence_length
        longest = max(len(ids) for ids in encoded)
        if longest == 0:
            raise ValueError("generate: a prompt has no tokens.")
        if longest + max_new_tokens > limit:
            if not truncate:
                raise SequenceTooLongError(
                    f"A prompt of {longest} tokens plus max_new_tokens="
                    f"{max_new_tokens} is longer than the {limit} positions "
                    f"of {self.backbone.name}; shorten it, or pass "
                    "truncate=True to keep its last tokens.")
            keep = limit - max_new_tokens
            if keep < 1:
                raise SequenceTooLongError(
                    f"max_new_tokens={max_new_tokens} leaves no room in "
                    f"{limit} positions.")
            encoded = [ids[-keep:] for ids in encoded]
            longest = max(len(ids) for ids in encoded)
        pad_id = self._pad_id()
        tokens = np.full((len(encoded), longest), pad_id, "int32")
        pads = np.zeros((len(encoded),), "int32")
        for row, ids in enumerate(encoded):
            tokens[row, longest - len(ids):] = ids
            pads[row] = longest - len(ids)
        return tokens, pads

    def _pad_id(self):
        tokenizer = self.tokenizer
        for attribute in ("pad_token_id", "eos_token_id"):
            value = getattr(tokenizer, attribute, None)
            if value is not None:
                return int(value)
        return 0

    # --- the decoding graph ---------------------------------------------------

    def _step_inputs(self, pads, index, length, cache_length):
        """Positions `[rows, length]` and the mask `[rows, length,
        cache_length]` of `length` tokens from slot `index`."""
        slots = ops.arange(length, dtype="int32")[None, :] + index
        positions = ops.maximum(slots - pads[:, None], 0)
        keys = ops.arange(cache_length, dtype="int32")[None, None, :]
        mask = ops.logical_and(keys <= slots[:, :, None],
                               keys >= pads[:, None, None])
        # A padding query sees itself, so no row of scores is all masked.
        mask = ops.logical_or(mask, keys == slots[:, :, None])
        return positions, mask

    def _decode(self, tokens, pads, seed, max_length, settings):
        """The prompt `[rows, P]` and its left padding -> `[rows,
        max_length]` (or beams); `seed` is an input, so a new seed compiles
        nothing."""
        from zoo_ops import decoding

        backbone = self.backbone
        rows, prompt_length = tokens.shape
        use_cache = settings["use_cache"]
        if use_cache:
            kv = backbone.empty_cache(rows, max_length)
            if prompt_length > 1:
                positions, mask = self._step_inputs(pads, 0, prompt_length - 1,
                                                    max_length)
                _, kv = backbone.call_with_cache(
                    tokens[:, :-1], kv, 0, positions, mask)
            state = {"kv": kv, "pads": pads}
            # Transposed once here, outside the loop's steps.
            head = backbone.output_head()

            def logits_fn(sequence, index, cache):
                last = ops.take(sequence, ops.reshape(index - 1, (1,)),
                                axis=1)
                positions, mask = self._step_inputs(
                    cache["pads"], index - 1, 1, max_length)
                logits, kv = backbone.call_with_cache(
                    last, cache["kv"], index - 1, positions, mask, head)
                return logits[:, 0], {"kv": kv, "pads": cache["pads"]}
        else:
            state = {"pads": pads}

            def logits_fn(sequence, index, cache):
                positions, mask = self._step_inputs(cache["pads"], 0,
                                                    max_length, max_length)
                logits = backbone.forward(sequence, positions, mask)
                last = ops.take(logits, ops.reshape(index - 1, (1,)), axis=1)
                return last[:, 0], cache

        sampler = settings["sampler"]
        end = settings["end_token_id"]
        pad = self._pad_id()
        if sampler == "beam":
            sequences, scores = decoding.beam_search(
                logits_fn, tokens, max_length, settings["num_beams"],
                end_token_id=end, pad_token_id=pad,
                length_penalty_alpha=settings["length_penalty"],
                cache=state)
            return sequences, scores
        strategy = "greedy" if sampler == "greedy" else "sample"
        out = decoding.generate(
            logits_fn, tokens, max_length, end_token_id=end,
            pad_token_id=pad, cache=state, strategy=strategy,
            temperature=settings["temperature"],
            top_k=settings["top_k"], top_p=settings["top_p"],
            seed=seed)
        return out, ops.zeros((rows,), "float32")

    def _compiled_decode(self, key, max_length, settings):
        from zoo_ops.decoding import compile_decoding

        if key not in self._compiled:
            self._compiled[key] = compile_decoding(
                lambda tokens, pads, seed: self._decode(
                    tokens, pads, seed, max_length, settings),
                self.variables)
        return self._compiled[key]

    # --- generate -----------------------------------------------------------

    def generate(self, prompts, max_new_tokens=32, chat=False,
                 sampler="greedy", temperature=1.0, top_k=None, top_p=None,
                 num_beams=4, length_penalty=0.0, seed=0,
                 stop_token_ids=None, truncate=False, use_cache=True,
                 return_ids=False):
        """Continues each prompt.

        Args:
            prompts: str, list of str (with a tokenizer), or list of lists
                of token ids.
            max_new_tokens: int, tokens generated at most.
            chat: render each prompt (a str, or a list of messages) with the
                tokenizer's chat template, the assistant's turn opened.
            sampler: one of `SAMPLERS`: `"greedy"`, `"top_k"` (needs
                `top_k`), `"top_p"` (needs `top_p`), `"random"`
                (temperature only) or `"beam"`.
            temperature, top_k, top_p, seed: sampling settings
                (`zoo_ops.decoding.sample_logits`); the same seed gives the
                same tokens.
            num_beams, length_penalty: beam search's width and GNMT alpha.
            stop_token_ids: ids that end a row (default: the tokenizer's
                EOS); the first ends the loop on the device, every one
                truncates the text.
            truncate: keep the last tokens of a prompt too long for the
                context instead of refusing it.
            use_cache: decode against the key/value cache (False recomputes
                the whole sequence each step: slower, the same ids).
            return_ids: return the new token ids instead of text.

        Returns:
            list of str (or of id lists), one per prompt: the generated
            continuation only, without the stop token.

        Raises:
            SequenceTooLongError: a prompt plus `max_new_tokens` exceeds the
                context (both lengths named), unless `truncate`.
            ValueError: an unknown sampler, or a sampler without its
                setting.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"generate: sampler {sampler!r} is not one of "
                             f"{SAMPLERS}.")
        if sampler == "top_k" and not top_k:
            raise ValueError("generate: sampler='top_k' needs top_k.")
        if sampler == "top_p" and not top_p:
            raise ValueError("generate: sampler='top_p' needs top_p.")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError("generate: max_new_tokens must be a positive "
                             f"int, got {max_new_tokens!r}.")
        encoded = self._encode(prompts, chat)
        tokens, pads = self._pad_left(encoded, max_new_tokens, truncate)
        if stop_token_ids is None:
            eos = getattr(self.tokenizer, "eos_token_id", None)
            stop_token_ids = [] if eos is None else [eos]
        stop_token_ids = [int(s) for s in stop_token_ids]
        settings = {
            "sampler": sampler, "temperature": float(temperature),
            "top_k": top_k if sampler == "top_k" else None,
            "top_p": top_p if sampler == "top_p" else None,
            "num_beams": int(num_beams),
            "length_penalty": float(length_penalty),
            "end_token_id": stop_token_ids[0] if stop_token_ids else None,
            "use_cache": bool(use_cache),
        }
        max_length = tokens.shape[1] + max_new_tokens
        # The variables' identities too: enable_lora and quantize add or
        # replace variables, and a loop compiled before reads the old ones.
        key = (tokens.shape, max_length, tuple(sorted(settings.items())),
               tuple(id(v) for v in self.variables))
        decode = self._compiled_decode(key, max_length, settings)
        out, _ = decode(tokens, pads, np.asarray(int(seed), "int32"))
        out = np.asarray(keras.ops.convert_to_numpy(out))
        if sampler == "beam":
            out = out[:, 0]
        results = []
        for row in out[:, tokens.shape[1]:].tolist():
            for position, token in enumerate(row):
                if token in stop_token_ids:
                    row = row[:position]
                    break
            results.append(row)
        if return_ids or self.tokenizer is None:
            return results
        return [self.tokenizer.decode(row) for row in results]

    # --- training -------------------------------------------------------------

    def call(self, inputs, training=None, mask=None):
        """The functional graph on `token_ids` and `padding_mask` (a
        `loss_mask` beside them is for `compute_loss`)."""
        if isinstance(inputs, dict) and "loss_mask" in inputs:
            inputs = {k: inputs[k] for k in ("token_ids", "padding_mask")}
        return super().call(inputs, training=training, mask=mask)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        """Next-token cross-entropy when `fit` gets no labels.

        With `y=None` the labels are the inputs shifted by one: position
        `t` predicts token `t + 1`, weighted by `x["loss_mask"]` when given
        (0 on a chat prompt, so only the answer is learned) or else
        `x["padding_mask"]`, averaged over the weighted tokens. With labels
        (and a compiled loss) Keras' own `compute_loss` runs.
        """
        if y is not None or not (isinstance(x, dict) and "token_ids" in x):
            return super().compute_loss(x, y, y_pred, sample_weight,
                                        training=training)
        labels = x["token_ids"][:, 1:]
        weights = x.get("loss_mask", x["padding_mask"])
        weights = ops.cast(weights[:, 1:], "float32")
        logits = ops.cast(y_pred[:, :-1], "float32")
        losses = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True)
        loss = ops.sum(losses * weights) / ops.maximum(ops.sum(weights), 1.0)
        if self.losses:
            loss = loss + ops.sum(ops.stack(
                [ops.cast(extra, "float32") for extra in self.losses]))
        return loss

    def merge_lora(self):
        """A `CausalLM` on `backbone.merged()` (LoRA folded into the
        kernels), with this model's tokenizer."""
        return CausalLM(self.backbone.merged(), tokenizer=self.tokenizer,
                        name=self.name)

    def next_token_logits(self, prompts, chat=False):
        """The logits of the token after each prompt (one forward pass,
        no cache), `[batch, vocabulary_size]` float32 numpy."""
        encoded = self._encode(prompts, chat)
        longest = max(len(ids) for ids in encoded)
        tokens = np.zeros((len(encoded), longest), "int32")
        mask = np.zeros((len(encoded), longest), "int32")
        for row, ids in enumerate(encoded):
            tokens[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1
        logits = keras.ops.convert_to_numpy(self.predict_on_batch(
            {"token_ids": tokens, "padding_mask": mask}))
        last = np.asarray([len(ids) - 1 for ids in encoded])
        return logits[np.arange(len(encoded)), last]

    # --- the tokenizer in presets and .keras files -------------------------

    def save_assets(self, directory):
        """Writes the tokenizer (`tokenizer.json`) into `directory`; Keras
        calls it when saving a `.keras` file, `save_to_preset` for the
        preset's `assets/`."""
        if self.tokenizer is not None:
            self.tokenizer.save(directory)

    def load_assets(self, directory):
        """Attaches the tokenizer `save_assets` wrote, if there is one."""
        import os

        from zoo.nlp.bpe import BytePairTokenizer

        if os.path.isfile(os.path.join(directory,
                                       BytePairTokenizer.FILE_NAME)):
            self.set_tokenizer(BytePairTokenizer.load(directory))

    def get_config(self):
        config = super().get_config()
        config.pop("tokenizer", None)
        return config
