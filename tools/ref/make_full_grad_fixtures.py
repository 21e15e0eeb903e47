#!/usr/bin/env python3
"""Golden fixtures for full-parameter training (`slm pretrain`'s FullObjective): loss and the gradient of every
weight of the tiny models in tests/fixtures/models/, from transformers (eager attention, f32).

Run on the device machine from the repository root:
    python3 tools/ref/make_full_grad_fixtures.py tests/fixtures/full_grad
Writes OUT/<case>.safetensors: input_ids (I32 [T]), loss (F32 [1]) = model(input_ids, labels=input_ids).loss,
grad.<HF name> (F32) for every parameter (tied embeddings: one tensor holding both uses).
"""
import os
import sys
import zlib

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

CASES = ["qwen2", "qwen3", "phi3", "gemma2", "llama3_scaled"]


def main(out):
    os.makedirs(out, exist_ok=True)
    for case in CASES:
        model = AutoModelForCausalLM.from_pretrained(os.path.join("tests/fixtures/models", case),
                                                     dtype=torch.float32, attn_implementation="eager")
        model.train()  # dropout is 0 in these configs
        g = torch.Generator().manual_seed(zlib.crc32(case.encode()))
        ids = torch.randint(3, model.config.vocab_size, (1, 20), generator=g)
        res = model(input_ids=ids, labels=ids)
        res.loss.backward()
        t = {"input_ids": ids[0].to(torch.int32), "loss": res.loss.detach().reshape(1)}
        for name, p in model.named_parameters():
            t["grad." + name] = p.grad.detach().float().contiguous()
        save_file(t, os.path.join(out, case + ".safetensors"))
        print(case, float(res.loss), len(t) - 2, "grads")


if __name__ == "__main__":
    main(sys.argv[1])
