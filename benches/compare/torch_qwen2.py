#!/usr/bin/env python3
"""The peer of benches/bench_model.cpp: a plain-PyTorch Qwen2 (no transformers) with Qwen2.5-0.5B's shapes and
random weights, on the CPU, measured the same way: pp512 (prefill 512 tokens, logits of the last one) and
tg128@d128 (batch-1 decode steps with a KV cache while generating 128 tokens after a 128-token prompt).

Follows transformers' modeling_qwen2.py: RMSNorm (f32 variance), rotate_half RoPE (theta 1e6), GQA attention
(q/k/v bias, no o bias), SiLU-gated MLP, final norm, head tied to the embedding. Attention is matmul + softmax
(torch 1.13 has no scaled_dot_product_attention), the KV cache is preallocated and written in place.
f32: weights and activations f32. bf16: the whole model cast to bfloat16 (what a torch user does; slm's BF16
mode keeps activations in f32 and only rounds matmul inputs, so it does slightly more work per token).

Timing: prefill: one warm-up, then the median of --repeats runs. Decode: 2 untimed steps, then the median
step time over up to 128 steps (fewer if they pass --max-decode-s). torch.set_num_threads(--threads).
Prints one JSON object.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

CONFIG = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
              num_key_value_heads=2, head_dim=64, vocab_size=151936, rope_theta=1e6, rms_norm_eps=1e-6)


class Qwen2:
    def __init__(self, c, dtype, seed=0):
        g = torch.Generator().manual_seed(seed)
        C, F_, H, Hkv, D = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                            c["num_key_value_heads"], c["head_dim"])

        def rnd(*shape):
            return ((torch.rand(*shape, generator=g) * 2 - 1) * 0.03).to(dtype)

        self.c, self.dtype = c, dtype
        self.embed = rnd(c["vocab_size"], C)  # (V, C), also the head (tied)
        self.layers = []
        for _ in range(c["num_hidden_layers"]):
            self.layers.append(dict(
                ln1=torch.ones(C, dtype=dtype), ln2=torch.ones(C, dtype=dtype),
                wq=rnd(H * D, C), bq=rnd(H * D), wk=rnd(Hkv * D, C), bk=rnd(Hkv * D), wv=rnd(Hkv * D, C),
                bv=rnd(Hkv * D), wo=rnd(C, H * D), wg=rnd(F_, C), wu=rnd(F_, C), wd=rnd(C, F_)))
        self.norm = torch.ones(C, dtype=dtype)
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = torch.outer(torch.arange(4096, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)  # (P, D)

    def weight_bytes(self):
        n = self.embed.numel() + self.norm.numel()
        n += sum(t.numel() for l in self.layers for t in l.values())
        return n * self.embed.element_size()

    def make_cache(self, capacity):
        c = self.c
        shape = (c["num_key_value_heads"], capacity, c["head_dim"])
        return dict(k=[torch.zeros(shape, dtype=self.dtype) for _ in self.layers],
                    v=[torch.zeros(shape, dtype=self.dtype) for _ in self.layers], length=0)

    def rmsnorm(self, x, w):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"])
        return w * xf.to(x.dtype)

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

    def forward(self, ids, cache, last_only=True):
        c = self.c
        H, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        G = H // Hkv
        T, pos0 = ids.shape[0], cache["length"]
        S = pos0 + T
        cos, sin = self.cos[pos0:S], self.sin[pos0:S]  # (T, D)
        x = F.embedding(ids, self.embed)  # (T, C)
        mask = None
        if T > 1:  # query i (absolute pos0 + i) sees keys j <= pos0 + i
            j = torch.arange(S)
            i = torch.arange(T).unsqueeze(1) + pos0
            mask = torch.zeros(T, S, dtype=self.dtype).masked_fill(j > i, float("-inf"))
        scale = 1.0 / math.sqrt(D)
        for l, w in enumerate(self.layers):
            h = self.rmsnorm(x, w["ln1"])
            q = F.linear(h, w["wq"], w["bq"]).view(T, H, D).transpose(0, 1)  # (H, T, D)
            k = F.linear(h, w["wk"], w["bk"]).view(T, Hkv, D).transpose(0, 1)
            v = F.linear(h, w["wv"], w["bv"]).view(T, Hkv, D).transpose(0, 1)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            cache["k"][l][:, pos0:S] = k
            cache["v"][l][:, pos0:S] = v
            kc, vc = cache["k"][l][:, :S], cache["v"][l][:, :S]  # (Hkv, S, D)
            qg = q.reshape(Hkv, G * T, D)  # the G query heads of a kv head share its keys
            att = torch.matmul(qg, kc.transpose(1, 2)) * scale  # (Hkv, G*T, S)
            if mask is not None:
                att = (att.view(Hkv, G, T, S) + mask).view(Hkv, G * T, S)
            att = torch.softmax(att.float(), dim=-1).to(self.dtype)
            a = torch.matmul(att, vc).view(H, T, D).transpose(0, 1).reshape(T, H * D)
            x = x + F.linear(a, w["wo"])
            h = self.rmsnorm(x, w["ln2"])
            x = x + F.linear(F.silu(F.linear(h, w["wg"])) * F.linear(h, w["wu"]), w["wd"])
        cache["length"] = S
        if last_only:
            x = x[-1:]
        return F.linear(self.rmsnorm(x, self.norm), self.embed)


def bench(dtype_name, prefill, depth, gen, repeats, max_decode_s):
    dtype = torch.float32 if dtype_name == "f32" else torch.bfloat16
    m = Qwen2(CONFIG, dtype)
    V = CONFIG["vocab_size"]
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (prefill,), generator=g)
    prompt = torch.randint(0, V, (depth,), generator=g)
    toks = torch.randint(0, V, (gen,), generator=g)
    out = {}
    with torch.inference_mode():
        cache = m.make_cache(max(prefill, depth + gen))
        times = []
        for r in range(repeats + 1):  # the first is the warm-up
            cache["length"] = 0
            t0 = time.perf_counter()
            m.forward(ids, cache, last_only=True)
            if r:
                times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        out["pp%d" % prefill] = dict(seconds=t, tok_s=prefill / t, all_seconds=times)
        # decode: the prompt, 2 untimed steps, then up to `gen` timed steps (stops early past max_decode_s,
        # torch's bf16 GEMV being slow); median step time.
        cache["length"] = 0
        m.forward(prompt, cache, last_only=True)
        for i in range(2):
            m.forward(toks[i:i + 1], cache, last_only=True)
        cache["length"] = depth
        steps, t_start = [], time.perf_counter()
        for i in range(gen):
            t0 = time.perf_counter()
            m.forward(toks[i:i + 1], cache, last_only=True)
            steps.append(time.perf_counter() - t0)
            if time.perf_counter() - t_start > max_decode_s:
                break
        t = statistics.median(steps)
        out["tg%d@d%d" % (gen, depth)] = dict(seconds_per_token=t, tok_s=1.0 / t, steps_timed=len(steps),
                                             mean_seconds_per_token=statistics.mean(steps))
    out["weight_bytes"] = m.weight_bytes()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--depth", type=int, default=128)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--max-decode-s", type=float, default=60.0, help="stop timing decode steps after this")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = dict(peer="torch", torch_version=torch.__version__, threads=torch.get_num_threads(),
               repeats=a.repeats, results={})
    for d in a.dtypes.split(","):
        res["results"][d] = bench(d, a.prefill, a.depth, a.gen, a.repeats, a.max_decode_s)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
