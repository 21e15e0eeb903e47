#!/usr/bin/env python3
"""Does real PEFT load an adapter that `slm train` wrote, and reproduce slm's logits and merge?

Run on the device machine (torch + transformers 5 + peft), from the repository root:
    python3 tools/ref/check_peft_loads_slm.py tests/fixtures/lora/slm_trained
For each case directory CASE (made here by tools/ref/make_slm_trained_fixture.sh: base.txt naming the base model
under tests/fixtures/models/, adapter/ written by `slm train`, slm_logits.safetensors with input_ids and slm's
logits of the unmerged adapter, merged/ written by `slm merge`) it:
  - loads the base (eager attention, f32) and PeftModel.from_pretrained(base, CASE/adapter);
  - runs input_ids and writes CASE/peft_logits.safetensors (logits F32 [T, V]);
  - merge_and_unload() and compares every merged weight with slm's merged/ checkpoint;
and writes CASE/peft_result.json: versions, max |Δ logits| (PEFT vs slm), max |Δ weight| (merge), the adapter's
module count as PEFT sees it. tests/lora/test_peft_loads_slm.cpp reads both files.
"""
import json
import os
import sys

import peft
import torch
import transformers
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

MODELS = "tests/fixtures/models"


def check(case_dir):
    base_name = open(os.path.join(case_dir, "base.txt")).read().strip()
    base = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, base_name), dtype=torch.float32,
                                                attn_implementation="eager")
    pm = PeftModel.from_pretrained(base, os.path.join(case_dir, "adapter"))
    pm.eval()
    ref = load_file(os.path.join(case_dir, "slm_logits.safetensors"))
    ids = ref["input_ids"].long().unsqueeze(0)
    with torch.no_grad():
        logits = pm(input_ids=ids).logits[0].float()
    save_file({"logits": logits.contiguous()}, os.path.join(case_dir, "peft_logits.safetensors"))
    lora_modules = sum(1 for n, _ in pm.named_modules() if n.endswith("lora_A.default"))
    merged = pm.merge_and_unload()
    ours = {}
    mdir = os.path.join(case_dir, "merged")
    for f in sorted(os.listdir(mdir)):
        if f.endswith(".safetensors"):
            ours.update(load_file(os.path.join(mdir, f)))
    max_w = 0.0
    for name, p in merged.state_dict().items():
        if name in ours:
            max_w = max(max_w, (p.float() - ours[name].float()).abs().max().item())
        elif not (name == "lm_head.weight" and merged.config.tie_word_embeddings):
            raise SystemExit(f"{case_dir}: slm's merged checkpoint lacks {name}")
    return dict(base=base_name, lora_modules=lora_modules,
                max_abs_logit_diff=(logits - ref["logits"]).abs().max().item(),
                max_abs_logit=ref["logits"].abs().max().item(), max_abs_merged_weight_diff=max_w)


def main(root):
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    for case in sorted(os.listdir(root)):
        d = os.path.join(root, case)
        if not os.path.isdir(d):
            continue
        r = check(d)
        r["versions"] = versions
        with open(os.path.join(d, "peft_result.json"), "w") as f:
            json.dump(r, f, indent=1)
        print(case, json.dumps(r))


if __name__ == "__main__":
    main(sys.argv[1])
