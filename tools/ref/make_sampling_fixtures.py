#!/usr/bin/env python3
"""Golden outputs of transformers' logits processors, for slm's sampling (models/sampling.cpp).

Run on the device machine:  python3 tools/ref/make_sampling_fixtures.py OUT.safetensors
For each case: random logits (V=97, with ties), a context of ids, and the processed scores of
RepetitionPenaltyLogitsProcessor -> TemperatureLogitsWarper -> TopKLogitsWarper -> TopPLogitsWarper,
the order GenerationMixin._get_logits_processor applies them. Removed tokens are -inf.
"""
import json
import sys

import torch
from safetensors.torch import save_file
from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)

V = 97
CASES = [  # temperature, top_k, top_p, repetition_penalty
    (1.0, 0, 1.0, 1.3), (0.7, 0, 1.0, 1.0), (1.0, 5, 1.0, 1.0), (1.0, 0, 0.9, 1.0), (0.8, 40, 0.95, 1.1),
    (1.3, 3, 0.5, 1.0), (1.0, 0, 0.05, 1.0), (0.5, 1, 1.0, 2.0), (1.0, 97, 0.999, 0.8), (2.0, 10, 0.7, 1.5),
]


def main():
    g = torch.Generator().manual_seed(3)
    out, params = {}, []
    for i, (t, k, p, r) in enumerate(CASES):
        logits = torch.randn(1, V, generator=g) * 3
        logits[0, 10:14] = logits[0, 9]  # ties
        ctx = torch.randint(0, V, (1, 12), generator=g)
        s = logits.clone()
        if r != 1.0:
            s = RepetitionPenaltyLogitsProcessor(r)(ctx, s)
        if t != 1.0:
            s = TemperatureLogitsWarper(t)(ctx, s)
        if k > 0:
            s = TopKLogitsWarper(k)(ctx, s)
        if p < 1.0:
            s = TopPLogitsWarper(p)(ctx, s)
        out[f"case{i}.logits"] = logits[0].contiguous()
        out[f"case{i}.context"] = ctx[0].to(torch.int32).contiguous()
        out[f"case{i}.expected"] = s[0].contiguous()
        params.append({"temperature": t, "top_k": k, "top_p": p, "repetition_penalty": r})
    save_file(out, sys.argv[1], metadata={"params": json.dumps(params)})
    print(f"{len(CASES)} cases written to {sys.argv[1]}")


if __name__ == "__main__":
    main()
