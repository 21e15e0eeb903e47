#!/usr/bin/env python3
"""Golden fixtures for slm's native forward: tiny random models of the real HF architectures.

Run on the device machine (torch + transformers 5 there):
    python3 tools/ref/make_model_fixtures.py OUT_DIR
For each case it writes OUT_DIR/<case>/ with what `save_pretrained` writes (config.json in the
transformers-5 form, *.safetensors, generation_config.json), plus
  config.legacy.json  the same model in the legacy hub form (rope_theta/rope_scaling, torch_dtype,
                      use_sliding_window, sliding_window_pattern, rope_local_base_freq...),
                      checked here to load into a model with identical logits;
  reference.safetensors  input_ids (I32 [T]), logits (F32 [T, V], eager attention, f32),
                      prompt_ids (I32 [P]), greedy_ids (I32 [N]): HF generate with its KV cache,
                      greedy, eos disabled, and greedy_recompute_ids (I32 [N]): greedy decoding that
                      re-runs the whole sequence each step (no cache).
Weights are random with std ~0.08 (norm weights and biases too) so that errors show.
"""
import json
import os
import sys
import traceback

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

STD = 0.08
PROMPT = 8


def cases():
    base = dict(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                tie_word_embeddings=False)
    c = []
    c.append(("llama", "llama", dict(base, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), 24))
    c.append(("llama3_scaled", "llama", dict(base, head_dim=32, tie_word_embeddings=True, attention_bias=True,
              mlp_bias=True, max_position_embeddings=128, eos_token_id=[2, 5],
              rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 16}), 40))
    c.append(("llama_linear", "llama", dict(base, rope_parameters={"rope_type": "linear", "rope_theta": 10000.0,
                                                                    "factor": 4.0}), 24))
    c.append(("llama_dynamic", "llama", dict(base, max_position_embeddings=16,
              rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}), 40))
    c.append(("llama_yarn", "llama", dict(base, max_position_embeddings=64,
              rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                               "original_max_position_embeddings": 16}), 40))
    c.append(("qwen2", "qwen2", dict(base, tie_word_embeddings=True, rope_parameters={"rope_type": "default",
                                                                                      "rope_theta": 1000000.0}), 24))
    c.append(("qwen2_swa", "qwen2", dict(base, num_hidden_layers=3, use_sliding_window=True, sliding_window=8,
              max_window_layers=1, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), 24))
    c.append(("qwen3", "qwen3", dict(base, head_dim=32, attention_bias=False,
              rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}), 24))
    c.append(("phi3", "phi3", dict(base, sliding_window=8, rope_parameters={"rope_type": "default",
                                                                            "rope_theta": 10000.0}), 24))
    rot = 24  # head_dim 32 * 0.75
    c.append(("phi3_longrope", "phi3", dict(base, hidden_size=128, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, original_max_position_embeddings=32, partial_rotary_factor=0.75,
              tie_word_embeddings=True, sliding_window=None,
              rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                               "short_factor": [1.0 + 0.05 * i for i in range(rot // 2)],
                               "long_factor": [1.0 + 0.5 * i for i in range(rot // 2)]}), 48))
    g = dict(base, head_dim=32, num_key_value_heads=1, tie_word_embeddings=True,
             hidden_activation="gelu_pytorch_tanh")
    c.append(("gemma", "gemma", dict(g, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), 24))
    c.append(("gemma2", "gemma2", dict(g, num_hidden_layers=4, num_key_value_heads=2, query_pre_attn_scalar=24,
              sliding_window=8, attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), 24))
    c.append(("gemma3_text", "gemma3_text", dict(g, num_hidden_layers=6, num_key_value_heads=2,
              query_pre_attn_scalar=32, sliding_window=8,
              layer_types=["sliding_attention" if (i + 1) % 3 else "full_attention" for i in range(6)],
              rope_parameters={"full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 8.0},
                               "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}), 24))
    return c


def randomize(model, offset_norms):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "norm" in name:
                p.copy_((0.0 if offset_norms else 1.0) + 0.1 * noise)
            else:
                p.copy_(STD * noise)


def legacy_form(cfg: dict, model_type: str) -> dict:
    """The transformers-5 config dict rewritten as the hub's legacy form."""
    d = json.loads(json.dumps(cfg))
    if "dtype" in d:
        d["torch_dtype"] = d.pop("dtype")
    rp = d.pop("rope_parameters", None)
    d.pop("rope_scaling", None)
    if rp is not None:
        if model_type == "gemma3_text":
            full, slide = dict(rp["full_attention"]), dict(rp["sliding_attention"])
            d["rope_theta"] = full.pop("rope_theta")
            d["rope_scaling"] = None if full.get("rope_type") == "default" and len(full) == 1 else full
            d["rope_local_base_freq"] = slide["rope_theta"]
        else:
            rp = dict(rp)
            d["rope_theta"] = rp.pop("rope_theta")
            for k in ("partial_rotary_factor",):
                if k in rp:
                    d[k] = rp.pop(k)
            if model_type == "phi3" and "original_max_position_embeddings" in rp:
                d["original_max_position_embeddings"] = rp.pop("original_max_position_embeddings")
            if rp.get("rope_type") == "default" and len(rp) == 1:
                d["rope_scaling"] = None
            else:
                if model_type == "phi3":  # Phi-3 hub configs spell it "type"
                    rp["type"] = rp.pop("rope_type")
                d["rope_scaling"] = rp
    lt = d.pop("layer_types", None)
    if model_type == "gemma3_text" and lt is not None:
        d["sliding_window_pattern"] = 3
    if model_type in ("qwen2", "qwen3") and lt is not None:
        d.setdefault("use_sliding_window", any(t == "sliding_attention" for t in lt))
    return d


def greedy_recompute(model, prompt, n):
    seq = prompt
    with torch.no_grad():
        for _ in range(n):
            nxt = model(seq).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    return seq[0, prompt.shape[1]:]


def tensors_close(a, b):
    return (a - b).abs().max().item()


def run_case(out_dir, name, model_type, kwargs, T):
    torch.manual_seed(0)
    cfg_cls = AutoConfig.for_model(model_type).__class__
    config = cfg_cls(**kwargs)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    randomize(model, offset_norms=model_type.startswith("gemma"))
    model.eval()
    d = os.path.join(out_dir, name)
    model.save_pretrained(d)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, config.vocab_size, (1, T), generator=g)
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    # Legacy form must load to the same model.
    with open(os.path.join(d, "config.json")) as f:
        v5 = json.load(f)
    legacy = legacy_form(v5, model_type)
    with open(os.path.join(d, "config.legacy.json"), "w") as f:
        json.dump(legacy, f, indent=2, sort_keys=True)
    legacy_cfg = cfg_cls.from_dict(legacy)
    m2 = AutoModelForCausalLM.from_config(legacy_cfg, attn_implementation="eager", dtype=torch.float32)
    m2.load_state_dict(model.state_dict())
    m2.eval()
    with torch.no_grad():
        diff = tensors_close(m2(ids).logits[0].float(), logits)
    print(f"[{name}] legacy-form logits max diff {diff:.3g}; legacy layer_types "
          f"{getattr(legacy_cfg, 'layer_types', None)} vs {getattr(config, 'layer_types', None)}")
    assert diff < 1e-5, f"{name}: legacy form differs ({diff})"
    # Greedy decoding with HF's KV cache, eos disabled.
    prompt = ids[:, :PROMPT]
    gen_cfg = transformers.GenerationConfig(do_sample=False, max_new_tokens=T - PROMPT, min_new_tokens=T - PROMPT,
                                            eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        out = model.generate(prompt, generation_config=gen_cfg)
    greedy = out[0, PROMPT:]
    recompute = greedy_recompute(model, prompt, T - PROMPT)
    if not torch.equal(greedy, recompute):
        first = int((greedy != recompute).nonzero()[0])
        print(f"[{name}] NOTE: HF generate (cache) and full recompute differ from new token {first} "
              f"(position {PROMPT + first})")
    save_file({"input_ids": ids[0].to(torch.int32).contiguous(), "logits": logits.contiguous(),
               "prompt_ids": prompt[0].to(torch.int32).contiguous(), "greedy_ids": greedy.to(torch.int32).contiguous(),
               "greedy_recompute_ids": recompute.to(torch.int32).contiguous()},
              os.path.join(d, "reference.safetensors"))
    if name == "phi3_longrope":
        explain_phi3_switch(model, prompt, greedy, config)
    print(f"[{name}] T={T} V={config.vocab_size} max|logit|={logits.abs().max().item():.4f} "
          f"files={sorted(os.listdir(d))}")
    return model, ids


def explain_phi3_switch(model, prompt, greedy, config):
    """Checks what Phi3ForCausalLM's generate does when the sequence first passes
    original_max_position_embeddings: its prepare_inputs_for_generation drops the cache, but the
    generic slicing then feeds only the newest token. Simulate that and compare."""
    orig = config.original_max_position_embeddings
    seq = torch.cat([prompt, greedy[None, :]], dim=1)
    switch = orig  # position whose forward first sees seq_len = orig + 1
    with torch.no_grad():
        # Cache path before the switch, then a fresh cache from the switch position on.
        start = seq[:, switch:switch + 1]
        out = []
        cur = seq[:, :switch + 1]
        from transformers import DynamicCache
        cache = DynamicCache(config=config)
        pos = torch.arange(switch, switch + 1)[None]
        tok_in = cur[:, -1:]
        for i in range(seq.shape[1] - switch - 1):
            o = model(tok_in, past_key_values=cache, position_ids=pos, use_cache=True)
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            out.append(int(nxt))
            tok_in = nxt
            pos = pos + 1
    hf_after = [int(x) for x in greedy[switch + 1 - prompt.shape[1]:]]
    print(f"[phi3_longrope] HF generate after the switch: {hf_after[:12]}")
    print(f"[phi3_longrope] simulated 'cache dropped, only the new token fed': {out[:12]}")
    print(f"[phi3_longrope] hypothesis holds: {hf_after[:len(out)] == out[:len(hf_after)]}")


def run_bf16_sharded(out_dir):
    """A bf16 Qwen2 checkpoint in several shards; reference logits from those bf16 weights in f32."""
    name = "qwen2_bf16_sharded"
    kwargs = dict(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, bos_token_id=1,
                  eos_token_id=2, tie_word_embeddings=False,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    config = transformers.Qwen2Config(**kwargs)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    randomize(model, offset_norms=False)
    d = os.path.join(out_dir, name)
    model.to(torch.bfloat16).save_pretrained(d, max_shard_size="40KB")
    m = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, 320, (1, 24), generator=g)
    with torch.no_grad():
        logits = m(ids).logits[0].float()
    with open(os.path.join(d, "config.json")) as f:
        v5 = json.load(f)
    with open(os.path.join(d, "config.legacy.json"), "w") as f:
        json.dump(legacy_form(v5, "qwen2"), f, indent=2, sort_keys=True)
    prompt = ids[:, :PROMPT]
    gen_cfg = transformers.GenerationConfig(do_sample=False, max_new_tokens=16, min_new_tokens=16,
                                            eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        out = m.generate(prompt, generation_config=gen_cfg)
    save_file({"input_ids": ids[0].to(torch.int32).contiguous(), "logits": logits.contiguous(),
               "prompt_ids": prompt[0].to(torch.int32).contiguous(),
               "greedy_ids": out[0, PROMPT:].to(torch.int32).contiguous(),
               "greedy_recompute_ids": greedy_recompute(m, prompt, 16).to(torch.int32).contiguous()},
              os.path.join(d, "reference.safetensors"))
    print(f"[{name}] shards={sorted(f for f in os.listdir(d) if f.endswith('.safetensors'))}")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    print(f"torch {torch.__version__} transformers {transformers.__version__}")
    failed = []
    for name, mt, kwargs, T in cases():
        try:
            run_case(out_dir, name, mt, kwargs, T)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    try:
        run_bf16_sharded(out_dir)
    except Exception:
        traceback.print_exc()
        failed.append("qwen2_bf16_sharded")
    with open(os.path.join(out_dir, "VERSIONS.txt"), "w") as f:
        f.write(f"torch {torch.__version__}\ntransformers {transformers.__version__}\n")
    print("failed:", failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
