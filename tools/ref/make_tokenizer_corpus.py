#!/usr/bin/env python3
"""Deterministic tokenizer test corpus: tests/fixtures/tokenizer/corpus.txt (UTF-8, one case per line).

    python3 tools/ref/make_tokenizer_corpus.py [OUT_PATH]

Python 3 stdlib only; the same output on every run (fixed seed, no dict-order or locale dependence).
Lines never contain '\n' but may contain '\r', other control characters and U+0085/U+2028 (readers must
split on '\n' only — never str.splitlines()). Categories: English prose, code (C++, Python, JSON, HTML),
numbers and dates, whitespace runs, scripts (CJK, kana, Hangul, Thai, Arabic, Hebrew, Devanagari,
Cyrillic, Greek), emoji (ZWJ, skin tones, flags), combining marks and un-normalised forms, fullwidth and
math symbols, the special-token strings of qwen3/llama3/llama2/gemma3 and near-misses of them, long words,
repeated characters, URLs and e-mails, and random mixes of all of these.
The golden ids for this file come from tools/ref/make_tokenizer_fixtures.py (HF `tokenizers`).
"""
import random
import sys

SEED = 20240611
N_LINES = 2400

PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "I'm sure you've heard they'll say it isn't what we'd expect.",
    "She said: \"Don't panic!\" and he replied, 'We're fine.'",
    "Tokenizers split text into pieces; models only ever see integers.",
    "Mr. O'Neil's dog—a terrier—barked at 3 a.m. (again).",
    "THE SHOUTING CAPITALS WE'LL NEVER UNDERSTAND, YOU'VE BEEN WARNED",
    "Hello world", "hello", " hello", "Hello  world", "a", "I", "ok?", "Yes!", "e.g. i.e. etc.",
    "Well... that's that;   isn't it?",
    "Once upon a time, in a land far, far away, there lived a tokenizer.",
    "can't won't shouldn't y'all'd've O'Reilly rock'n'roll",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
]
WORDS = ("the of and to in is was that for it with as his on be at by had are but from or have an they which "
         "one you were all we her she there would their will when who him been has more if no out so said what "
         "up its about than into them can only other time new some could these two may first then do any like "
         "my now over such our man me even most made after also did many off before must well back through "
         "tokenizer merge byte fallback normalisation pre-tokenizer vocabulary embedding transformer attention "
         "gradient optimizer checkpoint quantisation inference latency throughput").split()
CODE = [
    "int main(int argc, char** argv) { return 0; }",
    "for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];",
    "std::vector<std::pair<int, float>> v{{1, 2.5f}, {3, -0.0f}};",
    "#include <iostream>\t// prints\tstuff",
    "template <typename T> T max(T a, T b) { return a > b ? a : b; }",
    "def f(x, *args, **kwargs):    return [y**2 for y in x if y % 2 == 0]",
    "    if __name__ == \"__main__\":\tmain()",
    "import numpy as np; a = np.zeros((3, 4), dtype=np.float32)",
    "lambda s: s.strip().lower().replace('\\t', '    ')",
    '{"name": "slm", "version": 1, "tags": ["a", "b"], "nested": {"k": null, "f": 1.5e-3}}',
    '[{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello\\nthere"}]',
    '{"escaped": "line\\nbreak \\"quote\\" \\\\ backslash \\u00e9 \\ud83d\\ude00"}',
    "<html><head><title>Test &amp; page</title></head><body class=\"x\">&lt;p&gt;</body></html>",
    "<div id='main'><a href=\"https://example.com/?q=1&amp;r=2\">link</a><br/></div>",
    "<!-- comment --> <script>var x = 1 < 2 && 3 > 2;</script>",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=1;c>>=2;d&=e|f^g;",
    "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); }",
    "$ ls -la /usr/local/bin | grep -E '^-rwx' > out.txt 2>&1",
    "C:\\Users\\name\\Documents\\file.txt \\n \\t \\r \\\\ \\x41 \\u0041",
]
SCRIPTS = [
    "你好，世界！今天天气很好。", "机器学习是人工智能的一个分支。", "中文分词：我爱北京天安门。",
    "こんにちは、世界。カタカナとひらがな。", "東京都渋谷区でラーメンを食べました。", "ｶﾀｶﾅ半角カナ",
    "안녕하세요, 세계! 한국어 텍스트입니다.", "대한민국의 수도는 서울입니다.",
    "สวัสดีครับ ภาษาไทยไม่มีการเว้นวรรค", "مرحبا بالعالم، هذه جملة عربية.", "السَّلَامُ عَلَيْكُمْ",
    "שלום עולם, זה משפט בעברית.", "नमस्ते दुनिया, यह हिंदी वाक्य है।", "क्षत्रिय ज्ञान श्रृंखला",
    "Привет, мир! Это русский текст.", "Съешь же ещё этих мягких французских булок.",
    "Γειά σου Κόσμε! Ελληνικά κείμενα.", "Ὀδυσσεύς ἄνδρα μοι ἔννεπε", "ΣΊΣΥΦΟΣ σίσυφος ς",
    "Ἀθῆναι Ελλάς", "Tiếng Việt có dấu: Đường phố Hà Nội", "Zürich, Köln, Malmö, Ørsted, Łódź, İstanbul",
    "ქართული ენა", "Հայերեն լեզու", "ᚠᛇᚻ᛫ᛒᛦᚦ", "ⲧⲁⲓ ⲧⲉ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙",
]
EMOJI = [
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵🇺🇸", "❤️", "🧑🏿‍💻", "👩🏻‍🤝‍👨🏾", "🤷‍♀️", "✌🏼", "🫠", "🦀",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "#️⃣", "1️⃣0️⃣", "☃︎ ☃️", "🔥🔥🔥", "💯",
]
UNNORM = [
    "cafe\u0301 vs caf\u00e9", "e\u0301e\u0300e\u0302", "A\u030a vs \u00c5 vs \u212b", "\u1100\u1161\u11a8 vs \uac01",
    "\u1112\u1161\u11ab\u1100\u1173\u11af", "o\u0308\u0304 \u022b", "\u0041\u0327\u0301 \u1e08", "q\u0307\u0323 q\u0323\u0307",
    "\ufb01 \ufb02 \u2126 \u212a \u00b5 \u03bc", "\u0958 \u0915\u093c", "\u0e33 \u0e4d\u0e32",
    "\u2460\u2461\u2462 \u00bd \u2153", "\u00aa\u00ba\u00b2\u00b3", "\uf900\uf901 \u2f00",
    "n\u0303o\u0303 ma\u0303e", "\u0307\u0301\u0300 leading marks", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo",
]
FULLWIDTH_MATH = [
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ　１２３！？", "（全角）［括弧］｛波｝", "∀x∈ℝ: x²≥0 ⇒ √(x²)=|x|",
    "∑_{i=1}^{n} i = n(n+1)/2 ≈ ∞ ≠ ∅", "∫₀¹ f(x) dx ≤ ∮ ∇·F", "α+β=γ; Δx→0; ∂f/∂x", "½ ¼ ¾ ⅓ ⅞ ‰ ‱",
    "→ ← ↑ ↓ ↔ ⇐ ⇔ ⟶", "©®™℠ §¶†‡•…", "€£¥₹₽₿ $100 ¢", "①②③ ⑴⑵ ⒜", "ℌℍℎℏ ℓ ℘ ℵ",
]
SPECIALS = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<s>", "</s>", "<unk>", "<pad>", "<bos>",
    "<eos>", "<start_of_turn>", "<end_of_turn>", "<mask>", "<think>", "</think>", "<tool_call>",
    "<|reserved_special_token_5|>", "<unused42>", "<image_soft_token>", "<start_of_image>", "[multimodal]",
]
NEAR_MISSES = [
    "<|im_start|", "|im_start|>", "< s>", "<s >", "<bos >", "< bos>", "<|IM_START|>", "<|im_start |>",
    "<S>", "</ s>", "<<s>>", "<s><s>", "<|im_start|><|im_start|>", "<|endoftext|>>", "<<|endoftext|>",
    "<unk", "unk>", "<start_of_turn", "start_of_turn>", "<|begin_of_text|", "<|begin of text|>",
    "<unused>", "<unused-1>", "<unused99999>", "<|reserved_special_token_|>", "<think >", "<think/>",
]
WS = [" ", "  ", "   ", "\t", "\t\t", " \t ", "\u00a0", "\u00a0\u00a0", "\u3000", "\u2002", "\u2009", "\u202f",
      "\u200b", "\u200d", "\ufeff", "\u2028", "\u0085", "\u180e", "\u1680", "\r", "\r\r", " \r ", "\x0b", "\x0c"]
CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x1c", "\x1f", "\x7f", "\x80", "\x9f", "\ufffd", "\ue000",
            "\U0010fffd", "\ufffe"]


def numbers(r):
    f = [
        lambda: str(r.randint(0, 9)), lambda: str(r.randint(0, 10**r.randint(1, 12))),
        lambda: f"{r.uniform(-1e4, 1e4):.{r.randint(0, 6)}f}", lambda: f"{r.uniform(0, 1):.3e}",
        lambda: f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(1900, 2100)}",
        lambda: f"{r.randint(1900, 2100)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
        lambda: f"{r.randint(1, 12)}:{r.randint(0, 59):02d} {r.choice(['AM', 'PM', 'a.m.', 'pm'])}",
        lambda: f"{r.randint(0, 10**9):,}", lambda: f"{r.randint(0, 10**9):_}", lambda: hex(r.randint(0, 2**40)),
        lambda: f"+1 ({r.randint(200, 999)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
        lambda: f"{r.randint(0, 100)}%", lambda: f"${r.randint(0, 10**6)}.{r.randint(0, 99):02d}",
        lambda: f"v{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 200)}", lambda: "1" * r.randint(1, 40),
        lambda: "".join(r.choice("0123456789") for _ in range(r.randint(5, 30))),
        lambda: f"{r.randint(1, 31)} {r.choice(['January', 'Feb', 'März', '十月', 'décembre'])} {r.randint(1000, 2999)}",
        lambda: "".join(r.choice("٠١٢٣٤٥٦٧٨٩") for _ in range(r.randint(1, 6))),
        lambda: "".join(r.choice("０１２３４５６７８９") for _ in range(r.randint(1, 6))),
        lambda: "".join(r.choice("०१२३४५६७८९") for _ in range(r.randint(1, 6))),
        lambda: r.choice(["Ⅻ", "ⅻ", "²³", "₁₂₃", "⅔", "𝟙𝟚𝟛", "፲", "〇一二三"]),
    ]
    return r.choice(f)()


def url_or_mail(r):
    host = r.choice(["example.com", "sub.domain.co.uk", "localhost:8080", "127.0.0.1", "xn--bcher-kva.ch", "例え.jp"])
    user = r.choice(["john.doe", "a+b", "first_last", "x", "üser"])
    return r.choice([
        f"https://{host}/path/to/page?query=1&lang=en#frag", f"http://{host}", f"ftp://{user}@{host}/file.tar.gz",
        f"{user}@{host}", f"mailto:{user}@{host}?subject=Hi%20there", f"www.{host}/a_b-c~d/%E2%9C%93",
    ])


def long_word(r):
    return r.choice([
        "Pneumonoultramicroscopicsilicovolcanoconiosis", "Donaudampfschifffahrtsgesellschaftskapitän",
        "supercalifragilisticexpialidocious" * r.randint(1, 3), "a" * r.randint(2, 300), "ab" * r.randint(2, 80),
        "=" * r.randint(3, 120), "-" * r.randint(3, 80), "!" * r.randint(2, 30), "." * r.randint(2, 50),
        "\u2581" * r.randint(1, 40), "\u0120" * r.randint(1, 10), "<0x41><0xFF>", "▁hello▁world",
        "x" * 64 + "y" * 64, "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(30, 120))),
        "😀" * r.randint(2, 20), "你" * r.randint(2, 40), "\t" * r.randint(2, 40), " " * r.randint(2, 40),
    ])


def random_mix(r):
    pools = [PROSE, WORDS, CODE, SCRIPTS, EMOJI, UNNORM, FULLWIDTH_MATH, SPECIALS, NEAR_MISSES, WS, CONTROLS]
    parts = []
    for _ in range(r.randint(1, 12)):
        k = r.random()
        if k < 0.1:
            parts.append(numbers(r))
        elif k < 0.15:
            parts.append(url_or_mail(r))
        elif k < 0.2:
            parts.append(long_word(r))
        else:
            parts.append(r.choice(r.choice(pools)))
        parts.append(r.choice(["", " ", " ", " ", "  ", "\t", "\u00a0", ", ", ". "]))
    return "".join(parts)


def fixed_lines():
    out = []
    out += PROSE + CODE + SCRIPTS + EMOJI + UNNORM + FULLWIDTH_MATH
    for s in SPECIALS + NEAR_MISSES:
        out += [s, f"{s}hello", f"hello{s}", f"a {s} b", f" {s} ", f"{s}{s}", f"x{s}\ty", f"{s}\u00e9"]
    out += ["<|im_start|>user\rHi<|im_end|>\r<|im_start|>assistant\rHello!<|im_end|>",
            "<start_of_turn>user What is 2+2?<end_of_turn> <start_of_turn>model 4<end_of_turn>",
            "<s>[INST] <<SYS>> You are helpful. <</SYS>> Hi [/INST] Hello </s>",
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|> hi<|eot_id|>"]
    for w in WS + CONTROLS:
        out += [w, f"a{w}b", f"{w}lead", f"trail{w}", f"{w}{w}{w}", f"x {w} y", f"1{w}2", f"!{w}?", f"é{w}ü"]
    out += ["", " ", "  ", "    leading spaces", "trailing spaces    ", "   both   ", "\t\tindent", "a" * 1000,
            " " * 200, "Ġ Ċ ĉ", "ſ 'ſ 'K 'K", "'s's's", "don't'll've", "  's", "1 2 3", "12345678901234567890",
            "3.14159265358979323846", "1,000,000.00", "-0.0 +0 1e10 1E-10 0x1F 0b1010 0o777"]
    return out


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tokenizer/corpus.txt"
    r = random.Random(SEED)
    lines = fixed_lines()
    gens = [lambda: " ".join(r.choice(WORDS) for _ in range(r.randint(1, 30))),
            lambda: r.choice(PROSE) + " " + r.choice(PROSE), lambda: r.choice(CODE),
            lambda: numbers(r) + r.choice([" ", "", "-", "/", ", "]) + numbers(r),
            lambda: url_or_mail(r) + " " + url_or_mail(r), lambda: long_word(r),
            lambda: r.choice(SCRIPTS) + r.choice(EMOJI) + r.choice(SCRIPTS)] + [lambda: random_mix(r)] * 3
    while len(lines) < N_LINES:
        lines.append(r.choice(gens)())
    for s in lines:
        assert "\n" not in s, repr(s)
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out_path}: {len(lines)} lines, {sum(len(s.encode()) for s in lines)} bytes")


if __name__ == "__main__":
    main()
