#!/usr/bin/env python3
"""Golden fixtures for slm's LoRA training, `slm grad` and `slm merge`: real PEFT on the tiny models of
tests/fixtures/models/ (made by make_model_fixtures.py).

Run on the device machine (torch + transformers 5 + peft there), from the repository root:
    python3 tools/ref/make_lora_fixtures.py OUT_DIR
For each case it writes OUT_DIR/<case>/:
  adapter/                 PeftModel.save_pretrained: adapter_config.json + adapter_model.safetensors
                           (A as PEFT initialises it, B random non-zero so every gradient and the merge show)
  reference.safetensors    input_ids (I32 [T]), mask_before (I32 [1]): labels = input_ids with positions
                           < mask_before set to -100, shifted inside the loss as transformers does;
                           loss (F32 [1]) = PeftModel(input_ids, labels=labels).loss, eager attention, f32;
                           grad.<name> (F32): d loss / d every LoRA parameter, <name> = PEFT's parameter
                           name without "base_model.model." (model.layers.0.self_attn.q_proj.lora_A.default.weight);
                           logits (F32 [T, V]) of the PEFT model; merged_logits (F32 [T, V]) of merge_and_unload()
  merged/                  merge_and_unload().save_pretrained (safetensors in the base dtype, sharded like the base)
The base model of <case> is tests/fixtures/models/<base>/ (named in OUT_DIR/<case>/base.txt).
"""
import json
import os
import sys
import zlib

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

MODELS = "tests/fixtures/models"
MASK_BEFORE = 5


def cases():
    # (case, base model dir, LoraConfig kwargs, dtype)
    all_linear = "all-linear"
    return [
        ("llama", "llama", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("llama3_scaled", "llama3_scaled", dict(r=4, lora_alpha=16, target_modules=all_linear), torch.float32),
        ("qwen2_qv_rslora", "qwen2", dict(r=8, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_rslora=True),
         torch.float32),
        ("qwen2_swa", "qwen2_swa", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("qwen3", "qwen3", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("phi3", "phi3", dict(r=4, lora_alpha=8, target_modules=["qkv_proj", "gate_up_proj", "o_proj", "down_proj"]),
         torch.float32),
        ("phi3_longrope", "phi3_longrope", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("gemma", "gemma", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("gemma2", "gemma2", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("gemma3_text", "gemma3_text", dict(r=4, lora_alpha=8, target_modules=all_linear), torch.float32),
        ("qwen2_bf16_merge", "qwen2_bf16_sharded", dict(r=4, lora_alpha=8, target_modules=all_linear),
         torch.bfloat16),
    ]


def main(out):
    torch.manual_seed(0)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    for case, base, kw, dtype in cases():
        d = os.path.join(out, case)
        os.makedirs(d, exist_ok=True)
        model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, base), dtype=dtype,
                                                     attn_implementation="eager")
        cfg = LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, **kw)
        pm = get_peft_model(model, cfg)
        g = torch.Generator().manual_seed(zlib.crc32(case.encode()))
        with torch.no_grad():
            for name, p in pm.named_parameters():
                if "lora_B" in name:
                    p.copy_((torch.randn(p.shape, generator=g) * 0.05).to(p.dtype))
        ref = json.load(open(os.path.join(MODELS, base, "config.json")))
        V = ref["vocab_size"]
        T = 40 if base in ("llama3_scaled", "phi3_longrope") else 20
        ids = torch.randint(3, V, (1, T), generator=g)
        labels = ids.clone()
        labels[:, :MASK_BEFORE] = -100
        pm.eval()  # no dropout anyway (lora_dropout=0)
        tensors = {"input_ids": ids[0].to(torch.int32), "mask_before": torch.tensor([MASK_BEFORE], dtype=torch.int32)}
        if dtype == torch.float32:
            res = pm(input_ids=ids, labels=labels)
            res.loss.backward()
            tensors["loss"] = res.loss.detach().reshape(1).float()
            tensors["logits"] = res.logits[0].detach().float()
            for name, p in pm.named_parameters():
                if p.requires_grad:
                    tensors["grad." + name.removeprefix("base_model.model.")] = p.grad.detach().float().contiguous()
        pm.save_pretrained(os.path.join(d, "adapter"))
        merged = pm.merge_and_unload()
        with torch.no_grad():
            tensors["merged_logits"] = merged(input_ids=ids).logits[0].float()
        shard = "200KB" if "sharded" in base else "5GB"
        merged.save_pretrained(os.path.join(d, "merged"), max_shard_size=shard)
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(d, "reference.safetensors"))
        with open(os.path.join(d, "base.txt"), "w") as f:
            f.write(base + "\n")
        print(case, "ok", "loss" in tensors and float(tensors["loss"]))
    with open(os.path.join(out, "VERSIONS.txt"), "w") as f:
        f.write(json.dumps(versions) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
