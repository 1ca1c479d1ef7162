"""Exceptions a user can cause, each naming the offending value and the fix.

Every error raised on purpose by the zoo derives from `ZooError`, so callers can
catch the whole family at once. The subclasses also derive from the builtin
exception a Python user would expect (`KeyError`, `FileNotFoundError`,
`ValueError`, ...), so existing `except` clauses keep working.
"""

import difflib


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""

    def __str__(self):
        # KeyError quotes its message; every subclass wants plain text.
        return str(self.args[0]) if self.args else ""


class UnknownModelError(ZooError, KeyError):
    """A model name that no `@register_model` builder has."""


class UnknownPresetError(ZooError, KeyError):
    """A preset handle that names no built-in preset, file or directory."""


class PresetError(ZooError, ValueError):
    """A preset that exists but cannot be used (bad layout or contents)."""


class DownloadError(ZooError, OSError):
    """A download that failed (HTTP error, connection refused, ...)."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is not in the cache."""


class HashMismatchError(DownloadError):
    """A downloaded file whose hash differs from the one the preset states."""


class WeightsError(ZooError, ValueError):
    """A weights file that is unreadable, truncated or does not fit the model."""


class CorruptFileError(WeightsError):
    """A weights file that cannot be parsed at all (truncated, not the format).

    A cached download that raises this is removed from the cache, so the next
    load fetches it again.
    """


class UnsafePickleError(WeightsError):
    """A pickled weights file (a legacy `torch.save`) that names code to run
    rather than tensors; it is refused before anything in it runs."""


class SequenceTooLongError(ZooError, ValueError):
    """A token sequence longer than the model or the preprocessor allows."""


class VocabularyError(ZooError, ValueError):
    """A tokenizer vocabulary that does not fit the model or lacks a token."""


class DataFormatError(ZooError, ValueError):
    """A data file with a malformed record; the message names file and line."""


def closest_names(name, candidates, n=5):
    """Returns up to `n` names from `candidates` that look like `name`.

    Args:
        name: str, the name that was not found.
        candidates: iterable of str, the valid names.
        n: int, how many suggestions at most.

    Returns:
        list of str, best match first; prefix matches are added when the fuzzy
        match finds fewer than `n`.
    """
    candidates = sorted(set(candidates))
    matches = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    for candidate in candidates:
        if len(matches) >= n:
            break
        if candidate not in matches and (
            candidate.startswith(name) or name.startswith(candidate)
        ):
            matches.append(candidate)
    return matches


def did_you_mean(name, candidates):
    """Formats a ' Did you mean: a, b?' suffix, or '' when nothing is close."""
    matches = closest_names(name, candidates)
    if not matches:
        return ""
    return " Did you mean: " + ", ".join(repr(m) for m in matches) + "?"
