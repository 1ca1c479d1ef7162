"""Byte-level BPE (GPT-2's tokenizer, and Llama-architecture models' that
follow it), and chat templates.

Radford et al. 2019 (GPT-2): text is split by a regular expression
(contractions, runs of letters, of digits, of other symbols, of spaces),
each piece's UTF-8 bytes are mapped to printable characters (`Ġ` for a
space), and the vocabulary's merges are applied by rank. The ids equal
Hugging Face `tokenizers`' `ByteLevel` BPE on the same vocabulary and
merges (tested), with its added (special) tokens matched before the split.

`pre_tokenizer` names follow llama.cpp's `tokenizer.ggml.pre`: `"gpt2"`
(GPT-2's expression), `"smollm"` (every digit on its own first, as
SmolLM's `Digits(individual_digits=True)`, then GPT-2's expression).

Chat templates are Jinja, rendered in Jinja's sandbox as Hugging Face
`transformers` renders them (`trim_blocks`, `lstrip_blocks`,
`raise_exception`, `add_generation_prompt`).
"""

import functools

from zoo.errors import VocabularyError

#: GPT-2's split (`tokenizers`' ByteLevel with `use_regex=True`).
GPT2_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+"
                r"| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")

#: Pre-tokenizers by llama.cpp's name: expressions applied in turn (each
#: splits the pieces of the previous one, keeping what it matches and
#: what lies between).
PRE_TOKENIZERS = {
    "gpt2": (GPT2_PATTERN,),
    "smollm": (r"\p{N}", GPT2_PATTERN),
}


@functools.lru_cache(maxsize=None)
def bytes_to_unicode():
    """GPT-2's map of the 256 byte values to printable characters: the
    printable Latin-1 bytes map to themselves, the rest to code points from
    256 on, in byte order."""
    keep = (list(range(ord("!"), ord("~") + 1))
            + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    mapping, extra = {}, 0
    for byte in range(256):
        if byte in keep:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return mapping


def _split(pattern, pieces):
    import regex

    compiled = regex.compile(pattern)
    out = []
    for piece in pieces:
        start = 0
        for match in compiled.finditer(piece):
            if match.start() > start:
                out.append(piece[start:match.start()])
            out.append(match.group())
            start = match.end()
        if start < len(piece):
            out.append(piece[start:])
    return out


class BytePairTokenizer:
    """Byte-level BPE over a vocabulary and its merges.

    Args:
        tokens: list of str, the token of each id (byte-level characters).
        merges: list of `"a b"` strings (or pairs), highest priority first.
        special_tokens: tokens matched whole in the text before it is split
            (`<|im_start|>`); None: the tokens whose `token_types` is 3
            (control) or 4 (user-defined), as llama.cpp marks them.
        token_types: llama.cpp's per-token types (optional).
        pre_tokenizer: a key of `PRE_TOKENIZERS`.
        bos_token_id, eos_token_id, pad_token_id: special ids (or None).
        add_bos_token: prepend `bos_token_id` in `encode`.
        chat_template: a Jinja chat template (or None).

    Raises:
        VocabularyError: an unknown pre-tokenizer, or a merge whose parts or
            result are not in the vocabulary.
    """

    def __init__(self, tokens, merges, special_tokens=None, token_types=None,
                 pre_tokenizer="gpt2", bos_token_id=None, eos_token_id=None,
                 pad_token_id=None, add_bos_token=False, chat_template=None):
        if pre_tokenizer not in PRE_TOKENIZERS:
            raise VocabularyError(
                f"Unknown pre-tokenizer {pre_tokenizer!r}; zoo has "
                f"{sorted(PRE_TOKENIZERS)}.")
        self.tokens = list(tokens)
        self.vocabulary = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {}
        for rank, merge in enumerate(merges):
            pair = tuple(merge.split(" ")) if isinstance(merge, str) else (
                tuple(merge))
            if len(pair) != 2 or "".join(pair) not in self.vocabulary:
                raise VocabularyError(
                    f"Merge {rank} {merge!r} does not make a token of the "
                    "vocabulary.")
            self.ranks.setdefault(pair, rank)
        if special_tokens is None:
            types = list(token_types or [])
            special_tokens = [t for t, kind in zip(self.tokens, types)
                              if kind in (3, 4)]
        self.special_tokens = sorted(set(special_tokens), key=len,
                                     reverse=True)
        self.pre_tokenizer = pre_tokenizer
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.pad_token_id = pad_token_id
        self.add_bos_token = bool(add_bos_token)
        self.chat_template = chat_template
        self._byte_map = bytes_to_unicode()
        self._byte_unmap = {c: b for b, c in self._byte_map.items()}
        self._cache = {}

    #: The file `save` writes (a preset's or a `.keras` file's assets).
    FILE_NAME = "tokenizer.json"

    def get_config(self):
        """Everything that makes this tokenizer, JSON-serialisable (the
        merges highest priority first)."""
        merges = [" ".join(pair) for pair, _ in
                  sorted(self.ranks.items(), key=lambda item: item[1])]
        return {"tokens": self.tokens, "merges": merges,
                "special_tokens": self.special_tokens,
                "pre_tokenizer": self.pre_tokenizer,
                "bos_token_id": self.bos_token_id,
                "eos_token_id": self.eos_token_id,
                "pad_token_id": self.pad_token_id,
                "add_bos_token": self.add_bos_token,
                "chat_template": self.chat_template}

    def save(self, directory):
        """Writes `directory/tokenizer.json` (`get_config`, with a format
        tag); `BytePairTokenizer.load(directory)` reads it back."""
        import json
        import os

        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, self.FILE_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"format": "zoo-byte-level-bpe", "version": 1,
                       **self.get_config()}, f, ensure_ascii=False)
        os.replace(tmp, path)

    @classmethod
    def load(cls, directory):
        """The tokenizer `save` wrote to `directory`.

        Raises:
            VocabularyError: no such file, or not one `save` wrote.
        """
        import json
        import os

        path = os.path.join(directory, cls.FILE_NAME)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as error:
            raise VocabularyError(f"Cannot read the tokenizer {path}: "
                                  f"{error}") from None
        if not isinstance(data, dict) or data.get("format") != (
                "zoo-byte-level-bpe"):
            raise VocabularyError(f"{path} is not a zoo byte-level BPE "
                                  "tokenizer file.")
        data.pop("format")
        data.pop("version", None)
        return cls(**data)

    def vocabulary_size(self):
        """Tokens in the vocabulary."""
        return len(self.tokens)

    def token_to_id(self, token):
        """The id of a token string (`KeyError` if absent)."""
        return self.vocabulary[token]

    def _bpe(self, word):
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get(p), i) for i, p in
                     enumerate(zip(parts, parts[1:]))]
            best = min((r, i) for r, i in pairs if r is not None) if any(
                r is not None for r, _ in pairs) else None
            if best is None:
                break
            first, second = parts[best[1]], parts[best[1] + 1]
            merged, i = [], 0
            while i < len(parts):
                if (i < len(parts) - 1 and parts[i] == first
                        and parts[i + 1] == second):
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = []
        for part in parts:
            if part not in self.vocabulary:
                raise VocabularyError(
                    f"Byte-level piece {part!r} is not in the vocabulary (a "
                    "vocabulary without all 256 byte characters).")
            ids.append(self.vocabulary[part])
        self._cache[word] = ids
        return ids

    def _split_special(self, text):
        """`[(piece, is_special)]`, special tokens matched longest first."""
        if not self.special_tokens:
            return [(text, False)]
        import regex

        pattern = "|".join(regex.escape(t) for t in self.special_tokens)
        out, start = [], 0
        for match in regex.finditer(pattern, text):
            if match.start() > start:
                out.append((text[start:match.start()], False))
            out.append((match.group(), True))
            start = match.end()
        if start < len(text):
            out.append((text[start:], False))
        return out

    def encode(self, text, add_bos_token=None):
        """Token ids of one string.

        Args:
            text: str.
            add_bos_token: prepend the BOS id (default: the tokenizer's
                `add_bos_token`).

        Returns:
            list of int.
        """
        ids = []
        if (self.add_bos_token if add_bos_token is None else add_bos_token):
            if self.bos_token_id is None:
                raise VocabularyError("This tokenizer has no BOS token.")
            ids.append(self.bos_token_id)
        for piece, special in self._split_special(text):
            if special:
                ids.append(self.vocabulary[piece])
                continue
            words = [piece]
            for pattern in PRE_TOKENIZERS[self.pre_tokenizer]:
                words = _split(pattern, words)
            for word in words:
                mapped = "".join(self._byte_map[b]
                                 for b in word.encode("utf-8"))
                ids.extend(self._bpe(mapped))
        return ids

    def decode(self, ids, skip_special_tokens=False):
        """The text of token ids (invalid UTF-8 becomes U+FFFD).

        Args:
            ids: iterable of int.
            skip_special_tokens: drop the special tokens.
        """
        special = set(self.special_tokens)
        pieces, data = [], bytearray()
        for i in ids:
            token = self.tokens[int(i)]
            if token in special:
                if data:
                    pieces.append(data.decode("utf-8", errors="replace"))
                    data = bytearray()
                if not skip_special_tokens:
                    pieces.append(token)
                continue
            data.extend(self._byte_unmap.get(c, 0) for c in token)
        if data:
            pieces.append(data.decode("utf-8", errors="replace"))
        return "".join(pieces)

    def apply_chat_template(self, messages, add_generation_prompt=True):
        """The prompt text of a conversation, rendered by the chat template.

        Args:
            messages: list of `{"role": ..., "content": ...}`.
            add_generation_prompt: end with the assistant's turn opened.

        Raises:
            VocabularyError: the tokenizer has no chat template.
        """
        if not self.chat_template:
            raise VocabularyError("This tokenizer has no chat template.")
        template = _compile_template(self.chat_template)
        special = {name: (self.tokens[i] if i is not None else "")
                   for name, i in (("bos_token", self.bos_token_id),
                                   ("eos_token", self.eos_token_id))}
        return template.render(messages=list(messages),
                               add_generation_prompt=add_generation_prompt,
                               **special)


@functools.lru_cache(maxsize=16)
def _compile_template(source):
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)
