#!/usr/bin/env python3
"""The peer of benches/bench_train.cpp: one LoRA training step of a Qwen2.5-0.5B-shaped model in plain PyTorch on
the CPU (no transformers/peft: Debian's python3-torch 1.13 has neither), with random frozen base weights, rank-16
adapters on every linear layer (q, k, v, o, gate, up, down: PEFT's all-linear), one 512-token sequence.

The step is what transformers' Trainer + PEFT do: forward (RMSNorm in f32, rotate_half RoPE, GQA causal attention as
matmul + softmax, SiLU-gated MLP, tied head, logits upcast to f32), cross-entropy over the shifted labels, backward
(gradients only for the adapters), clip_grad_norm_(1.0), AdamW, zero_grad.
f32: everything f32. bf16: base weights and activations bf16, adapters f32 with PEFT's casts (x.to(A.dtype) into the
low-rank path, result cast back), as PEFT runs a bf16 model with autocast_adapter_dtype.
Timing: one warm-up step, then the median of --steps steps. Peak memory: the process's maximum RSS.
torch.set_num_threads(--threads). Prints one JSON object.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F

CONFIG = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
              num_key_value_heads=2, head_dim=64, vocab_size=151936, rope_theta=1e6, rms_norm_eps=1e-6)


class LoraLinear:
    def __init__(self, w, b, rank, alpha, g):
        self.w, self.b = w, b
        n, k = w.shape
        bound = 1.0 / math.sqrt(k)
        self.A = ((torch.rand(rank, k, generator=g) * 2 - 1) * bound).requires_grad_()
        self.B = (torch.randn(n, rank, generator=g) * 0.01).requires_grad_()
        self.scaling = alpha / rank

    def __call__(self, x):
        y = F.linear(x, self.w, self.b)
        low = F.linear(F.linear(x.to(self.A.dtype), self.A), self.B) * self.scaling
        return y + low.to(y.dtype)


class Qwen2Lora:
    def __init__(self, c, dtype, rank, alpha, seed=0):
        g = torch.Generator().manual_seed(seed)
        C, F_, H, Hkv, D = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                            c["num_key_value_heads"], c["head_dim"])

        def rnd(*shape):
            return ((torch.rand(*shape, generator=g) * 2 - 1) * 0.03).to(dtype)

        def lin(n, k, bias=False):
            return LoraLinear(rnd(n, k), rnd(n) if bias else None, rank, alpha, g)

        self.c, self.dtype = c, dtype
        self.embed = rnd(c["vocab_size"], C)
        self.layers = [dict(ln1=torch.ones(C, dtype=dtype), ln2=torch.ones(C, dtype=dtype),
                            q=lin(H * D, C, True), k=lin(Hkv * D, C, True), v=lin(Hkv * D, C, True), o=lin(C, H * D),
                            g=lin(F_, C), u=lin(F_, C), d=lin(C, F_)) for _ in range(c["num_hidden_layers"])]
        self.norm = torch.ones(C, dtype=dtype)
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = torch.outer(torch.arange(4096, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)

    def params(self):
        return [p for l in self.layers for m in l.values() if isinstance(m, LoraLinear) for p in (m.A, m.B)]

    def rmsnorm(self, x, w):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"])
        return w * xf.to(x.dtype)

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

    def loss(self, ids):
        c = self.c
        H, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        G, T = H // Hkv, ids.shape[0]
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.full((T, T), float("-inf"), dtype=self.dtype).triu(1)
        x = F.embedding(ids, self.embed)
        for w in self.layers:
            h = self.rmsnorm(x, w["ln1"])
            q = w["q"](h).view(T, H, D).transpose(0, 1)
            k = w["k"](h).view(T, Hkv, D).transpose(0, 1)
            v = w["v"](h).view(T, Hkv, D).transpose(0, 1)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            k = k.repeat_interleave(G, dim=0)
            v = v.repeat_interleave(G, dim=0)
            att = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(D) + mask
            att = torch.softmax(att.float(), dim=-1).to(self.dtype)
            a = torch.matmul(att, v).transpose(0, 1).reshape(T, H * D)
            x = x + w["o"](a)
            h = self.rmsnorm(x, w["ln2"])
            x = x + w["d"](F.silu(w["g"](h)) * w["u"](h))
        logits = F.linear(self.rmsnorm(x, self.norm), self.embed).float()
        return F.cross_entropy(logits[:-1], ids[1:])


def bench(dtype_name, seq, rank, steps):
    dtype = torch.float32 if dtype_name == "f32" else torch.bfloat16
    m = Qwen2Lora(CONFIG, dtype, rank, 2 * rank)
    opt = torch.optim.AdamW(m.params(), lr=1e-4, weight_decay=0.0)
    ids = torch.randint(0, CONFIG["vocab_size"], (seq,), generator=torch.Generator().manual_seed(1))
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        loss = m.loss(ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.params(), 1.0)
        opt.step()
        opt.zero_grad()
        if s:
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    return dict(seconds_per_step=t, tok_s=seq / t, all_seconds=times, loss=float(loss),
                peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--rank", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = dict(peer="torch", torch_version=torch.__version__, threads=torch.get_num_threads(), steps=a.steps,
               dtype=a.dtype, seq=a.seq, rank=a.rank, result=bench(a.dtype, a.seq, a.rank, a.steps))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
