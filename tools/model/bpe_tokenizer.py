"""A byte-level BPE tokenizer trained on a small corpus and written as a Hugging Face tokenizer.json.

The Python `tokenizers` library is not available here, so this module trains the merges itself. It
writes the JSON layout that both the Rust library and @huggingface/tokenizers 0.2.0 read. The layout
is a BPE model over GPT-2's byte-to-unicode alphabet with the ByteLevel pre-tokenizer (GPT-2 split
pattern) and the ByteLevel decoder. Special tokens (image placeholder, BOS/EOS, chat-role markers) are
added tokens, so the tokenizer never splits them.

The encoder here is the reference the TypeScript tests compare against. It handles ASCII text only,
because Python's `re` has no \\p{L}/\\p{N} classes and the GPT-2 pattern below replaces them by their
ASCII members.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# GPT-2's split pattern with \p{L} -> [A-Za-z] and \p{N} -> [0-9], which is identical on ASCII input.
_ASCII_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
# Printable ASCII plus tab and newline: the characters on which _ASCII_SPLIT agrees with the JS pattern.
_SUPPORTED_TEXT = re.compile(r"[\x20-\x7e\t\n]*")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character, so every byte string is a visible string."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_TO_CHAR = bytes_to_unicode()


def pre_tokenize(text: str) -> list[str]:
    if not _SUPPORTED_TEXT.fullmatch(text):
        raise ValueError("the reference encoder handles printable ASCII, tab and newline only")
    return ["".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8")) for piece in _ASCII_SPLIT.findall(text)]


@dataclass
class ByteLevelBpe:
    """Vocabulary (token -> id), merges in rank order and special tokens (content -> id)."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]
    special_tokens: dict[str, int]

    @staticmethod
    def train(corpus: list[str], num_merges: int, special_tokens: list[str]) -> "ByteLevelBpe":
        """Learn merges greedily by pair frequency; ties go to the lexicographically smallest pair."""
        words = Counter(piece for text in corpus for piece in pre_tokenize(text))
        splits = {word: list(word) for word in words}
        vocab = {BYTE_TO_CHAR[b]: b for b in range(256)}
        merges: list[tuple[str, str]] = []

        for _ in range(num_merges):
            pairs: Counter[tuple[str, str]] = Counter()
            for word, count in words.items():
                symbols = splits[word]
                for pair in zip(symbols, symbols[1:]):
                    pairs[pair] += count
            if not pairs:
                break
            best_count = max(pairs.values())
            best = min(pair for pair, count in pairs.items() if count == best_count)
            merges.append(best)
            # Two different pairs can spell the same token ("ab"+"c", "a"+"bc"); it keeps one id.
            vocab.setdefault(best[0] + best[1], len(vocab))
            for word in splits:
                splits[word] = _merge_pair(splits[word], best)

        specials = {}
        for content in special_tokens:
            specials[content] = len(vocab) + len(specials)
        return ByteLevelBpe(vocab, merges, specials)

    @property
    def size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def encode(self, text: str) -> list[int]:
        """Encode text the way tokenizer.json does: split out special tokens, then BPE each piece."""
        ids: list[int] = []
        for segment, is_special in self._split_special(text):
            if is_special:
                ids.append(self.special_tokens[segment])
                continue
            for piece in pre_tokenize(segment):
                ids.extend(self.vocab[token] for token in self._bpe(piece))
        return ids

    def _split_special(self, text: str) -> list[tuple[str, bool]]:
        # Longest match first at each position, like the added-token splitter of both libraries.
        contents = sorted(self.special_tokens, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(c) for c in contents))
        segments: list[tuple[str, bool]] = []
        start = 0
        for match in pattern.finditer(text):
            if match.start() > start:
                segments.append((text[start : match.start()], False))
            segments.append((match.group(0), True))
            start = match.end()
        if start < len(text):
            segments.append((text[start:], False))
        return segments

    def _bpe(self, piece: str) -> list[str]:
        ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        symbols = list(piece)
        while len(symbols) > 1:
            candidates = [(ranks[pair], pair) for pair in zip(symbols, symbols[1:]) if pair in ranks]
            if not candidates:
                break
            symbols = _merge_pair(symbols, min(candidates)[1])
        return symbols

    def tokenizer_json(self) -> dict:
        added = [
            {
                "id": token_id,
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for content, token_id in self.special_tokens.items()
        ]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": self.vocab,
                "merges": [list(pair) for pair in self.merges],
            },
        }

    def write(self, directory: Path, tokenizer_config: dict) -> None:
        """Writes tokenizer.json and tokenizer_config.json (the latter adds added_tokens_decoder)."""
        decoder = {
            str(token_id): {
                "content": content,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for content, token_id in self.special_tokens.items()
        }
        _write_json(directory / "tokenizer.json", self.tokenizer_json())
        _write_json(directory / "tokenizer_config.json", {**tokenizer_config, "added_tokens_decoder": decoder})


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            merged.append(pair[0] + pair[1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
