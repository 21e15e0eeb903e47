#!/usr/bin/env python3
"""The tokenizer of the README's embedded default model (data/tiny/): a byte-level BPE (GPT-2 byte map, 256 byte
tokens) with MERGES merges learned from the text the repository carries, plus ChatML special tokens, in HF
`tokenizers`' tokenizer.json format (the same layout as tools/ref/make_tiny_tokenizer.py, which it extends).
Standard library only; deterministic (ties broken by the pair's text):
    python3 tools/ref/make_embedded_tokenizer.py data/tiny 733 data/*.jsonl docs/*.md README.md
Training pre-splits words with an ASCII approximation of the GPT-2 pattern; encoding uses the real pattern
(tokenizer.json), which is fine: any merge list whose results are in the vocabulary is a valid BPE.
"""
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from make_tiny_tokenizer import bytes_to_unicode  # noqa: E402

WORD = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def corpus_text(paths):
    for p in paths:
        with open(p, encoding="utf-8") as f:
            if p.endswith(".jsonl"):
                for line in f:
                    if line.strip():
                        for m in json.loads(line).get("messages", []):
                            yield m["content"]
            else:
                yield f.read()


def merge_word(w, pair):
    out, i = [], 0
    while i < len(w):
        if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
            out.append(w[i] + w[i + 1])
            i += 2
        else:
            out.append(w[i])
            i += 1
    return tuple(out)


def train(paths, n_merges):
    """Classic BPE: repeatedly merge the most frequent adjacent pair (ties: the larger pair text). Pair counts
    and the words holding each pair are kept up to date incrementally, so only the words a merge touches are
    recounted (thousands of merges in seconds instead of a full recount per merge)."""
    bmap = bytes_to_unicode()
    counts = collections.Counter()
    for text in corpus_text(paths):
        for w in WORD.findall(text):
            counts[tuple(bmap[b] for b in w.encode("utf-8"))] += 1
    words = list(counts.items())  # [(symbols, frequency)]
    pairs = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of words holding it
    for i, (w, c) in enumerate(words):
        for p in zip(w, w[1:]):
            pairs[p] += c
            where[p].add(i)
    merges = []
    for _ in range(n_merges):
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        for i in where.pop(best):
            w, c = words[i]
            for p in zip(w, w[1:]):
                pairs[p] -= c
                if pairs[p] <= 0:
                    del pairs[p]
            w = merge_word(w, best)
            words[i] = (w, c)
            for p in zip(w, w[1:]):
                pairs[p] += c
                where[p].add(i)
        pairs.pop(best, None)
    return merges


def main():
    out, n_merges, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    bmap = bytes_to_unicode()
    vocab = {bmap[b]: b for b in range(256)}
    merge_lines = []
    for a, b in train(paths, n_merges):
        vocab[a + b] = len(vocab)
        merge_lines.append(f"{a} {b}")
    added = []
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        added.append({"id": len(vocab), "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        vocab[s] = len(vocab)
    regex = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
             "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}, byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merge_lines},
    }
    chatml = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
              "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
              "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
           "pad_token": "<|endoftext|>", "chat_template": chatml}
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    print(f"{len(vocab)} tokens ({len(merge_lines)} merges) -> {out}")


if __name__ == "__main__":
    main()
