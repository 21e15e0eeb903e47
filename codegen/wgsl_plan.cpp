// The kernel set of a model (see wgsl_plan.h). Decode fuses: RMSNorm into the next GEMV's input load,
// q|k|v split + q/k norm + RoPE + KV append into one kernel, act(gate) * up into the gate|up GEMV, residual
// adds into the o/down GEMVs, final norm + soft-cap into the lm_head GEMV; so a layer is 7 dispatches
// (gemv_qkv, rope_kv, attention split + merge, gemv_o, gemv_gate_up, gemv_down), 9 with Gemma-2's sandwich norms.
#include "codegen/wgsl_plan.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "codegen/mlc_layout.h"
#include "tensor/error.h"

namespace slm::codegen {

using json = nlohmann::ordered_json;

namespace {

uint64_t pow2_floor(uint64_t x) {
  uint64_t p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}
uint64_t pow2_ceil(uint64_t x) {
  uint64_t p = 1;
  while (p < x) p *= 2;
  return p;
}
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void check_storage(const std::string& what, uint64_t bytes, const WgslLimits& l) {
  SLM_CHECK(bytes <= l.max_compute_workgroup_storage_size,
            "[wgsl] " + what + " needs " + std::to_string(bytes) + " bytes of workgroup memory, above the limit " +
                std::to_string(l.max_compute_workgroup_storage_size) +
                " (maxComputeWorkgroupStorageSize) — request a device with a larger limit");
}

// Shared context of one plan.
struct Planner {
  const ModelConfig& c;
  quant::Scheme scheme;
  const WgslOptions& opt;
  MlcLayout layout;
  bool f16;
  WgslPlan plan;

  // MLC parameter name (with {L} for the layer) of the HF tensor ending in `hf_suffix` (layer 0's name).
  std::string mlc(const std::string& hf_suffix) const {
    for (const MlcSource& s : layout.sources)
      for (const std::string& h : s.hf_names)
        if (h.size() >= hf_suffix.size() && h.compare(h.size() - hf_suffix.size(), hf_suffix.size(), hf_suffix) == 0) {
          std::string n = s.mlc_name;
          size_t at = n.find(".0.");
          if (hf_suffix.find("layers.0.") != std::string::npos && at != std::string::npos) n.replace(at, 3, ".{L}.");
          return n;
        }
    throw Error("[wgsl] no MLC parameter takes the HF tensor '*" + hf_suffix + "' of this " + c.model_type +
                " model — the kernel plan and codegen/mlc_layout.cpp disagree");
  }
  bool has_hf(const std::string& hf_suffix) const {
    for (const MlcSource& s : layout.sources)
      for (const std::string& h : s.hf_names)
        if (h.size() >= hf_suffix.size() && h.compare(h.size() - hf_suffix.size(), hf_suffix.size(), hf_suffix) == 0)
          return true;
    return false;
  }
  // {prefix.q_weight, prefix.q_scale} of a quantised MLC weight named `weight_name` (ends in ".weight").
  std::pair<std::string, std::string> q4(const std::string& weight_name) const {
    const std::string prefix = weight_name.substr(0, weight_name.size() - std::string(".weight").size());
    auto names = quant::mlc_param_names(scheme, prefix);
    return {names.at(0), names.at(1)};
  }

  WgslKernelSpec spec(const std::string& name, const std::string& tmpl, const std::string& role, uint32_t wg) const {
    WgslKernelSpec k;
    k.name = name;
    k.tmpl = tmpl;
    k.role = role;
    k.workgroup_size = wg;
    k.values["KERNEL"] = name;
    k.values["ENABLE_F16"] = f16 ? "enable f16;" : "";
    k.values["F16"] = f16;
    k.values["ST"] = f16 ? "f16" : "f32";
    k.values["ST_BYTES"] = f16 ? 2 : 4;
    k.values["WG"] = wg;
    return k;
  }
  void set_act(WgslKernelSpec& k) const {
    const Activation a = activation_from_name(c.hidden_act);
    k.values["ACT_SILU"] = a == Activation::SiLU;
    k.values["ACT_GELU_TANH"] = a == Activation::GeluTanh;
    k.values["ACT_GELU_ERF"] = a == Activation::Gelu;
  }
  void check_k(const std::string& name, int64_t K) const {
    SLM_CHECK(K % 32 == 0, "[wgsl] " + name + ": K = " + std::to_string(K) +
                               " is not a multiple of the quantisation group (32); the WGSL int4 kernels need whole "
                               "groups");
  }

  void add_gemv(const std::string& name, const std::string& role, int64_t K, int64_t N, const std::string& weight,
                json opts, std::map<std::string, std::string> params);
  std::optional<WgslKernelSpec> staged_gemv(const WgslKernelSpec& base, int64_t K, int64_t N) const;
  bool use_staged(int64_t K, int64_t N) const;
  void add_gemm(const std::string& name, const std::string& role, int64_t K, int64_t N, int64_t out_stride,
                int64_t out_offset, const std::string& weight, bool bias, bool accumulate, const std::string& bias_name);
  void add_rope_attention();
  void add_layers();
};

void Planner::add_gemv(const std::string& name, const std::string& role, int64_t K, int64_t N,
                       const std::string& weight, json opts, std::map<std::string, std::string> params) {
  check_k(name, K);
  const bool gated = opts.value("GATED", false);
  json t = wgsl_gemv_tiling(K, N, gated, opts.value("NORM_IN", false), opt.limits, opt.gemv_lanes);
  WgslKernelSpec k = spec(name, "gemv_q4", role, t["WG"].get<uint32_t>());
  for (auto& [key, v] : t.items()) k.values[key] = v;
  k.values["K"] = K;
  k.values["N"] = N;
  const int64_t out_offset = opts.value("OUT_OFFSET", int64_t(0));
  k.values["OUT_OFFSET"] = out_offset;
  k.values["W_ROWS"] = gated ? 2 * N : N;
  k.values["Y_ELEMS"] = opts.value("Y_ELEMS", out_offset + N);
  k.values["GATE_ROWS"] = N;
  for (const char* f : {"NORM_IN", "UNIT_OFFSET", "BIAS", "GATED", "SOFTCAP", "ACCUMULATE"}) k.values[f] = opts.value(f, false);
  k.values["EPS"] = float(c.rms_norm_eps);
  k.values["CAP"] = opts.value("CAP", 0.0f);
  set_act(k);
  auto [qw, qs] = q4(weight);
  params["qw"] = qw;
  params["qs"] = qs;
  k.params = std::move(params);
  k.values["SUBGROUPS"] = false;
  k.values["SG_PART"] = 0;
  // The same GEMV reducing with subgroup operations, for devices with the `subgroups` feature.
  WgslKernelSpec sg = k;
  sg.name = name + "_sg";
  sg.values["SUBGROUPS"] = true;
  sg.values["SG_PART"] = sg.values["SLOTS"].get<int64_t>() * (int64_t(sg.workgroup_size) / 4);
  sg.feature = "subgroups";
  sg.replaces = name;
  const uint64_t sg_bytes = (t["RED_SIZE"].get<uint64_t>() + sg.values["SG_PART"].get<uint64_t>() + 1) * 4;
  std::optional<WgslKernelSpec> staged = f16 || !use_staged(K, N) ? std::nullopt : staged_gemv(k, K, N);
  plan.kernels.push_back(std::move(k));
  if (staged) {
    staged->name = name + "_sg";
    staged->feature = "subgroups";
    staged->replaces = name;
    plan.kernels.push_back(std::move(*staged));
  } else if (sg_bytes <= opt.limits.max_compute_workgroup_storage_size) {
    plan.kernels.push_back(std::move(sg));
  }
}

// Where the staged GEMV goes by default: the shapes where it measured faster than gemv_q4's subgroup kernel on an
// H200 (docs/performance.md, session 9) — rows of whole 32-group runs (no idle lanes in a lane's last group) with
// at least 4096 rows (Phi-3.5's qkv, gate_up and lm_head: -9 to -28 % a call; its o_proj, 3072 rows, unchanged),
// and the vocabulary-sized heads (Qwen2.5-0.5B/1.5B lm_head: -14 to -17 %). Qwen2.5's K = 896 and 1536 GEMVs,
// whose 28 and 48 groups leave lanes idle, ran 5-24 % slower staged.
bool Planner::use_staged(int64_t K, int64_t N) const {
  switch (opt.gemv_staged) {
    case WgslOptions::Staged::Always: return true;
    case WgslOptions::Staged::Never: return false;
    case WgslOptions::Staged::Auto: break;
  }
  return ((K / 32) % 32 == 0 && N >= 4096) || N >= 65536;
}

// gemv_q4_staged.wgsl for a q4f32_1 GEMV whose x fits in workgroup memory: the largest workgroup (256 down to 32
// lanes, 4 rows a 32-lane row set) whose staged x (also the fallback reduction's room for the lanes' SLOTS sums),
// subgroup partials and row-set sums fit the limit; nullopt where none fits (the caller keeps gemv_q4's kernel).
// Its lanes per row are 32 whatever --gemv-lanes says (that knob tunes gemv_q4).
std::optional<WgslKernelSpec> Planner::staged_gemv(const WgslKernelSpec& base, int64_t K, int64_t N) const {
  const int64_t slots = base.values["SLOTS"].get<int64_t>();
  for (int64_t wg = wgsl_workgroup_size(256, opt.limits); wg >= 32; wg /= 2) {
    const int64_t sets = wg / 32, sg_part = slots * (wg / 4), fin = slots * sets;
    const int64_t xs = std::max(K / 4, ceil_div(slots * wg, 4));  // vec4s: x, then the fallback's lane sums
    const uint64_t bytes = uint64_t(4 * xs + sg_part + fin + 1) * 4;
    if (bytes > opt.limits.max_compute_workgroup_storage_size) continue;
    WgslKernelSpec s = base;
    s.tmpl = "gemv_q4_staged";
    s.workgroup_size = uint32_t(wg);
    for (const char* unused : {"TPR", "U", "U2", "U3", "U4", "RED_SIZE", "SUBGROUPS"}) s.values.erase(unused);
    s.values["WG"] = wg;
    s.values["XS_SIZE"] = xs;
    s.values["SG_PART"] = sg_part;
    s.values["FIN_SIZE"] = fin;
    s.values["SG_MAX"] = 32;
    s.values["NUM_WG"] = ceil_div(N, 4 * sets);
    return s;
  }
  return std::nullopt;
}

void Planner::add_gemm(const std::string& name, const std::string& role, int64_t K, int64_t N, int64_t out_stride,
                       int64_t out_offset, const std::string& weight, bool bias, bool accumulate,
                       const std::string& bias_name) {
  check_k(name, K);
  json t = wgsl_gemm_tiling(K, N, opt.limits);
  WgslKernelSpec k = spec(name, "gemm_q4", role, t["WG"].get<uint32_t>());
  for (auto& [key, v] : t.items()) k.values[key] = v;
  k.values["K"] = K;
  k.values["N"] = N;
  k.values["OUT_STRIDE"] = out_stride;
  k.values["OUT_OFFSET"] = out_offset;
  k.values["BIAS"] = bias;
  k.values["ACCUMULATE"] = accumulate;
  auto [qw, qs] = q4(weight);
  k.params = {{"qw", qw}, {"qs", qs}};
  if (bias) k.params["bias"] = bias_name;
  plan.kernels.push_back(std::move(k));
}

// rope_kv and attention per distinct layer configuration ("full" / "sliding").
void Planner::add_rope_attention() {
  const int64_t H = c.num_attention_heads, Hkv = c.num_key_value_heads, D = c.head_dim;
  const bool gemma2_like = c.model_type == "gemma2" || c.model_type == "gemma3_text";
  const float scale = gemma2_like ? float(std::pow(c.query_pre_attn_scalar, -0.5)) : float(1.0 / std::sqrt(double(D)));
  const bool qk_norm = c.model_type == "qwen3" || c.model_type == "gemma3_text";
  bool any_sliding = false;
  for (auto t : c.layer_types) any_sliding |= t == LayerType::SlidingAttention;
  int64_t split_kpc = 0;
  for (const char* type : {"full", "sliding"}) {
    const bool sliding = std::string(type) == "sliding";
    if (sliding && !any_sliding) continue;
    const std::string suffix = std::string("_") + type;
    const RopeParams& rp = sliding ? c.rope_sliding : c.rope_full;
    const bool seq_dependent = rp.rope_type == "dynamic" || rp.rope_type == "longrope";
    const bool inline_rope = opt.rope == WgslRope::Inline;
    SLM_CHECK(!(inline_rope && seq_dependent), "[wgsl] rope_type '" + rp.rope_type +
                                                   "' depends on the sequence length: use the table rope (WgslRope::Table)");
    const RopeFreqs fr = rope_freqs(rp, 1);
    const int64_t rot = rope_rotary_dim(rp);
    WgslKernelSpec r = spec("rope_kv" + suffix, "rope_kv",
                            std::string("split q|k|v") + (qk_norm ? ", q/k RMSNorm" : "") + ", RoPE (" + rp.rope_type +
                                "), append k/v to the KV cache at pos0 (" + type + "-attention layers)",
                            wgsl_workgroup_size(uint32_t(std::min<uint64_t>(64, pow2_ceil(uint64_t(D)))), opt.limits));
    check_storage(r.name, uint64_t(D + r.workgroup_size) * 4, opt.limits);
    r.values["H"] = H;
    r.values["HKV"] = Hkv;
    r.values["D"] = D;
    r.values["ROT"] = rot;
    r.values["HALF"] = rot / 2;
    r.values["HEADS"] = H + Hkv;
    r.values["QKV_N"] = (H + 2 * Hkv) * D;
    r.values["QK_NORM"] = qk_norm;
    r.values["UNIT_OFFSET"] = false;  // MLC stores Gemma's q/k norm weights as 1 + w already
    r.values["EPS"] = float(c.rms_norm_eps);
    r.values["ROPE_INLINE"] = inline_rope;
    r.values["ATTN_SCALING"] = fr.attention_scaling;
    r.values["INV_FREQ"] = fr.inv_freq;
    r.values["ROPE_DOC"] = inline_rope ? "computed in the shader from the baked inv_freq (" + rp.rope_type + ")"
                                       : "read from the rope table buffer (" + rp.rope_type + ")";
    if (qk_norm) {
      r.params["q_norm"] = mlc("layers.0.self_attn.q_norm.weight");
      r.params["k_norm"] = mlc("layers.0.self_attn.k_norm.weight");
    }
    const json r_values = r.values;
    const auto r_params = r.params;
    plan.kernels.push_back(std::move(r));

    WgslKernelSpec a = spec("attention" + suffix, "attention",
                            std::string("causal GQA attention over the KV cache") +
                                (sliding ? ", sliding window " + std::to_string(c.sliding_window) : "") +
                                (c.attn_logit_softcapping > 0 ? ", soft-capped scores" : "") + " (" + type + " layers)",
                            wgsl_workgroup_size(64, opt.limits));
    check_storage(a.name, uint64_t(D + 2 * a.workgroup_size) * 4, opt.limits);
    a.values["H"] = H;
    a.values["HKV"] = Hkv;
    a.values["D"] = D;
    a.values["SCALE"] = scale;
    a.values["WINDOW"] = sliding ? c.sliding_window : 0;
    a.values["DPT"] = ceil_div(D, a.workgroup_size);
    a.values["SOFTCAP"] = c.attn_logit_softcapping > 0;
    a.values["CAP"] = c.attn_logit_softcapping;
    // Decode's split form (flash-decoding, attention_decode.wgsl): a workgroup per chunk of KPC keys, LPK = 8
    // lanes per key, rope_kv's work for the new token folded in; attention_merge combines the chunks.
    WgslKernelSpec split = spec(a.name + "_split", "attention_split",
                                a.role + ", a chunk of keys per workgroup (decode; attention_merge combines)",
                                wgsl_workgroup_size(128, opt.limits));
    for (const char* k : {"H", "HKV", "D", "SCALE", "WINDOW", "SOFTCAP", "CAP"}) split.values[k] = a.values[k];
    // It also does rope_kv's work for the decoded token (the same rope values and norm weights).
    for (const char* k : {"QKV_N", "ROT", "HALF", "QK_NORM", "EPS", "ROPE_INLINE", "ATTN_SCALING", "INV_FREQ", "ROPE_DOC"})
      split.values[k] = r_values[k];
    split.params = r_params;
    split.values["DPT"] = ceil_div(D, split.workgroup_size);
    const int64_t kpc = std::max<int64_t>(1, split.workgroup_size / 8);
    split.values["KPC"] = kpc;
    const int64_t pvg = std::max<int64_t>(1, split.workgroup_size / D);
    split.values["PVG"] = pvg;
    split.values["PV_SIZE"] = pvg * D;
    check_storage(split.name, uint64_t(4 * D + split.workgroup_size + kpc + pvg * D) * 4, opt.limits);
    split_kpc = kpc;
    plan.kernels.push_back(std::move(a));
    plan.kernels.push_back(std::move(split));
  }
  {
    // 32 lanes (features) × G groups (chunks): at least one group, at most 8.
    WgslKernelSpec m = spec("attention_merge", "attention_merge", "combines the per-chunk partials of split attention",
                            wgsl_workgroup_size(256, opt.limits));
    SLM_CHECK(m.workgroup_size >= 32, "[wgsl] attention_merge needs workgroups of at least 32 invocations");
    m.values["H"] = H;
    m.values["D"] = D;
    m.values["GROUP_SUMS"] = int64_t(m.workgroup_size / 32) * D;
    check_storage(m.name, uint64_t(m.workgroup_size + (m.workgroup_size / 32) * D) * 4, opt.limits);
    m.values["KPC"] = split_kpc;
    plan.kernels.push_back(std::move(m));
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const char* type = c.layer_types[size_t(l)] == LayerType::SlidingAttention ? "sliding" : "full";
    plan.layers.push_back({{"type", type},
                           {"rope_kv", std::string("rope_kv_") + type},
                           {"attention", std::string("attention_") + type},
                           {"attention_split", std::string("attention_") + type + "_split"}});
  }
}

void Planner::add_layers() {
  const int64_t C = c.hidden_size, F = c.intermediate_size, H = c.num_attention_heads, Hkv = c.num_key_value_heads,
                D = c.head_dim, V = c.vocab_size;
  const int64_t QKV_N = (H + 2 * Hkv) * D;
  const bool sandwich = c.model_type == "gemma2" || c.model_type == "gemma3_text";
  const bool gemma = c.model_type.rfind("gemma", 0) == 0;
  const std::string in_norm = mlc("layers.0.input_layernorm.weight");
  const std::string mlp_norm =
      mlc(sandwich ? "layers.0.pre_feedforward_layernorm.weight" : "layers.0.post_attention_layernorm.weight");
  plan.norms = {{"input", in_norm}, {"mlp", mlp_norm}, {"final", mlc("model.norm.weight")}};
  if (sandwich) {
    plan.norms["post_attention"] = mlc("layers.0.post_attention_layernorm.weight");
    plan.norms["post_feedforward"] = mlc("layers.0.post_feedforward_layernorm.weight");
  }

  // Embedding.
  {
    WgslKernelSpec k = spec("embed", "embed_q4", "token embedding gather + dequantisation", wgsl_workgroup_size(256, opt.limits));
    k.values["V"] = V;
    k.values["C"] = C;
    check_k("embed", C);
    k.values["EMBED_SCALE"] = gemma;
    k.values["EMBED_SCALE_VALUE"] = float(std::sqrt(double(C)));
    k.values["EMBED_SCALE_DOC"] = gemma ? " · sqrt(C)" : "";
    auto [qw, qs] = q4(mlc("embed_tokens.weight"));
    k.params = {{"qw", qw}, {"qs", qs}};
    plan.kernels.push_back(std::move(k));
  }
  // q|k|v projections: one fused weight, or Gemma-3's three.
  const bool fused_qkv = !has_hf("layers.0.self_attn.q_proj.weight") || mlc("layers.0.self_attn.q_proj.weight") ==
                                                                           mlc("layers.0.self_attn.k_proj.weight");
  struct Part { std::string suffix, hf; int64_t offset, n; };
  std::vector<Part> parts;
  if (fused_qkv)
    parts.push_back({"qkv", has_hf("layers.0.self_attn.q_proj.weight") ? "layers.0.self_attn.q_proj" : "layers.0.self_attn.qkv_proj", 0, QKV_N});
  else
    parts = {{"q", "layers.0.self_attn.q_proj", 0, H * D},
             {"k", "layers.0.self_attn.k_proj", H * D, Hkv * D},
             {"v", "layers.0.self_attn.v_proj", (H + Hkv) * D, Hkv * D}};
  for (const Part& p : parts) {
    const std::string w = mlc(p.hf + ".weight");
    const bool bias = has_hf(p.hf + ".bias");
    std::map<std::string, std::string> params = {{"norm_w", in_norm}};
    if (bias) params["bias"] = mlc(p.hf + ".bias");
    add_gemv("gemv_" + p.suffix, "input RMSNorm + " + p.suffix + " projection (decode)", C, p.n, w,
             {{"NORM_IN", true}, {"BIAS", bias}, {"OUT_OFFSET", p.offset}, {"Y_ELEMS", QKV_N}}, params);
    add_gemm("gemm_" + p.suffix, p.suffix + " projection (prefill)", C, p.n, QKV_N, p.offset, w, bias, false,
             bias ? mlc(p.hf + ".bias") : "");
  }
  add_rope_attention();
  const std::string o_hf = has_hf("layers.0.self_attn.o_proj.weight") ? "layers.0.self_attn.o_proj.weight"
                                                                       : "layers.0.self_attn.out_proj.weight";
  const std::string gu_hf = has_hf("layers.0.mlp.gate_proj.weight") ? "layers.0.mlp.gate_proj.weight"
                                                                     : "layers.0.mlp.gate_up_proj.weight";
  const std::string o_w = mlc(o_hf), gu_w = mlc(gu_hf), down_w = mlc("layers.0.mlp.down_proj.weight");
  const char* res = sandwich ? " (stored; the post-norm adds it to the residual)" : " + residual add";
  add_gemv("gemv_o", std::string("attention output projection") + res + " (decode)", H * D, C, o_w,
           {{"ACCUMULATE", !sandwich}}, {});
  add_gemm("gemm_o", std::string("attention output projection") + res + " (prefill)", H * D, C, C, 0, o_w, false,
           !sandwich, "");
  add_gemv("gemv_gate_up", "MLP RMSNorm + gate|up projection + act(gate) * up (decode)", C, F, gu_w,
           {{"NORM_IN", true}, {"GATED", true}}, {{"norm_w", mlp_norm}});
  add_gemm("gemm_gate_up", "gate|up projection (prefill; gated_act follows)", C, 2 * F, 2 * F, 0, gu_w, false, false, "");
  add_gemv("gemv_down", std::string("MLP down projection") + res + " (decode)", F, C, down_w, {{"ACCUMULATE", !sandwich}}, {});
  add_gemm("gemm_down", std::string("MLP down projection") + res + " (prefill)", F, C, C, 0, down_w, false, !sandwich, "");
  // lm_head: final norm folded in, soft-cap in the epilogue; tied models multiply with the embedding.
  const std::string head_w = c.tie_word_embeddings ? mlc("embed_tokens.weight") : mlc("lm_head.weight");
  add_gemv("gemv_lm_head", "final RMSNorm + lm_head" + std::string(c.final_logit_softcapping > 0 ? " + logit soft-cap" : "") +
                               " (one row of x: x_row = last token)",
           C, V, head_w,
           {{"NORM_IN", true}, {"SOFTCAP", c.final_logit_softcapping > 0}, {"CAP", c.final_logit_softcapping}},
           {{"norm_w", mlc("model.norm.weight")}});
}

}  // namespace

uint32_t wgsl_workgroup_size(uint32_t want, const WgslLimits& l) {
  const uint64_t cap = std::min<uint64_t>({want, l.max_compute_invocations_per_workgroup, l.max_compute_workgroup_size_x});
  SLM_CHECK(cap >= 1, "[wgsl] the device limits allow no compute invocations");
  return uint32_t(pow2_floor(cap));
}

static void set_gemv_unroll(json& t, int64_t words, uint64_t tpr) {
  // Words a lane takes per run (U, 1-4): as few runs as four would take, each as short as covers the row. A slot
  // past the row's end still decodes a word (times 0): K = 3072 (384 words, 128 lanes) decoded a quarter more
  // than it needed with U = 4. Neutral on the H200 (memory-bound there), cheaper where ALU per byte is scarcer.
  const uint64_t w = uint64_t(std::max<int64_t>(words, 1));
  const uint64_t runs = (w + 4 * tpr - 1) / (4 * tpr);
  const uint64_t u = std::min<uint64_t>(4, (w + runs * tpr - 1) / (runs * tpr));
  t["U"] = u;
  t["U2"] = u >= 2;
  t["U3"] = u >= 3;
  t["U4"] = u >= 4;
}

json wgsl_gemv_tiling(int64_t K, int64_t N, bool gated, bool norm_in, const WgslLimits& l, uint32_t lanes) {
  const int64_t groups = K / 32;
  // TPR lanes share a row set of R = 4 rows (the template unrolls them); a lane takes U ≤ 4 words of each run of
  // U·TPR. TPR = the fewest lanes (a power of two, 32 to 256) that cover a row's K/8 words in one run: the lanes
  // issue all their loads at once and few unrolled slots are wasted past the row's end. Measured on an H200
  // against 32-256 lanes for every decode GEMV of Qwen2.5-0.5B/1.5B and Phi-3.5-mini (docs/performance.md): best
  // or within noise everywhere; an earlier rule that gave large-N GEMVs fewer lanes made the 1.5B and Phi
  // lm_heads 13-14 % slower.
  constexpr uint64_t R = 4;
  const uint32_t wg_max = wgsl_workgroup_size(256, l);
  const uint64_t cap = std::max<uint64_t>(32, pow2_ceil(uint64_t(std::max<int64_t>(groups, 1))));
  // lanes (slm kernels --gemv-lanes, a tuning knob) overrides the rule.
  uint64_t tpr = std::min<uint64_t>(wg_max, lanes ? uint64_t(lanes) : cap);
  // Row sets per workgroup: enough workgroups (~256) to spread a small GEMV over the GPU's cores, and the
  // reduction's SLOTS x WG floats must fit.
  const uint64_t slots = R * (gated ? 2 : 1) + (norm_in ? 1 : 0);
  const uint64_t out_sets = uint64_t(ceil_div(std::max<int64_t>(N, 1), int64_t(R)));
  uint64_t sets = std::min<uint64_t>(wg_max / tpr, std::max<uint64_t>(1, pow2_floor(std::max<uint64_t>(1, out_sets / 256))));
  while (sets > 1 && slots * tpr * sets * 4 > l.max_compute_workgroup_storage_size) sets /= 2;
  SLM_CHECK(slots * tpr * sets * 4 <= l.max_compute_workgroup_storage_size,
            "[wgsl] gemv needs " + std::to_string(slots * tpr * 4) + " bytes of workgroup memory, above the limit " +
                std::to_string(l.max_compute_workgroup_storage_size) + " (maxComputeWorkgroupStorageSize)");
  const uint64_t wg = tpr * sets;
  const int64_t blocks = ceil_div(N, int64_t(R * sets));
  json t = {{"GROUPS", groups}, {"TPR", tpr}, {"WG", wg}, {"SLOTS", slots}, {"RED_SIZE", slots * wg}, {"NUM_WG", blocks}};
  set_gemv_unroll(t, K / 8, tpr);
  return t;
}

json wgsl_gemm_tiling(int64_t K, int64_t N, const WgslLimits& l) {
  // (TM, TN, MT, NT), largest first; the first that fits the invocation and workgroup-memory limits wins.
  const int64_t cand[][4] = {{64, 64, 4, 4}, {32, 64, 4, 4}, {32, 32, 4, 4}, {16, 32, 2, 4}, {16, 16, 2, 2}, {8, 8, 2, 2}};
  for (const auto& t : cand) {
    const int64_t tm = t[0], tn = t[1], mt = t[2], nt = t[3], wg = (tm / mt) * (tn / nt);
    const uint64_t storage = uint64_t(tm * 32 + tn * 33) * 4;
    if (uint64_t(wg) > l.max_compute_invocations_per_workgroup || uint64_t(wg) > l.max_compute_workgroup_size_x ||
        storage > l.max_compute_workgroup_storage_size)
      continue;
    return {{"GROUPS", K / 32}, {"TM", tm}, {"TN", tn}, {"MT", mt}, {"NT", nt}, {"WG", wg},
            {"TILES_N", ceil_div(N, tn)}, {"XS_SIZE", tm * 32}, {"WS_SIZE", tn * 33}, {"ACC_SIZE", mt * nt}};
  }
  throw Error("[wgsl] no GEMM tiling fits the device limits (" + std::to_string(l.max_compute_invocations_per_workgroup) +
              " invocations, " + std::to_string(l.max_compute_workgroup_storage_size) +
              " bytes of workgroup memory); WebGPU's defaults (256, 16384) always fit");
}

WgslPlan plan_wgsl_kernels(const ModelConfig& c, quant::Scheme scheme, const WgslOptions& opt) {
  const quant::SchemeInfo& info = quant::scheme_info(scheme);
  SLM_CHECK(info.quantized, std::string("[wgsl] ") + info.name +
                                ": the WGSL kernels cover the q4 schemes (q4f16_1, q4f32_1); unquantised GEMV/GEMM "
                                "kernels are not written yet — export with --quant q4f32_1 or q4f16_1");
  SLM_CHECK(c.num_attention_heads % c.num_key_value_heads == 0,
            "[wgsl] num_attention_heads must be a multiple of num_key_value_heads");
  Planner p{c, scheme, opt, mlc_layout(c, scheme), info.model_dtype == DType::F16, {}};
  p.plan.shader_f16 = p.f16;
  p.plan.constants = {{"C", c.hidden_size}, {"F", c.intermediate_size}, {"V", c.vocab_size},
                      {"H", c.num_attention_heads}, {"HKV", c.num_key_value_heads}, {"D", c.head_dim},
                      {"L", c.num_hidden_layers}, {"QKV_N", (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim}};
  p.add_layers();
  const uint32_t wg = wgsl_workgroup_size(256, opt.limits);
  auto add_simple = [&](const std::string& name, const std::string& tmpl, const std::string& role, json vals) {
    WgslKernelSpec k = p.spec(name, tmpl, role, wg);
    for (auto& [key, v] : vals.items()) k.values[key] = v;
    if (tmpl == "gated_act") p.set_act(k);
    p.plan.kernels.push_back(std::move(k));
  };
  const float eps = float(c.rms_norm_eps);
  add_simple("rmsnorm", "rmsnorm", "RMSNorm of T rows (prefill: input and MLP norms)",
             {{"C", c.hidden_size}, {"EPS", eps}, {"UNIT_OFFSET", false}, {"ACCUMULATE", false}});
  if (c.model_type == "gemma2" || c.model_type == "gemma3_text")
    add_simple("rmsnorm_add", "rmsnorm", "post-attention / post-feed-forward RMSNorm added into the residual",
               {{"C", c.hidden_size}, {"EPS", eps}, {"UNIT_OFFSET", false}, {"ACCUMULATE", true}});
  add_simple("gated_act", "gated_act", "act(gate) * up of the prefill gate|up output", {{"F", c.intermediate_size}});
  add_simple("add", "add", "residual add y += x", {{"C", c.hidden_size}});
  add_simple("argmax", "argmax", "greedy next token (16-byte read-back)", {{"V", c.vocab_size}});
  // Sampling: eight stages of one template over NB blocks of BLK = WG · PER tokens (sample.wgsl; the program
  // runs the top-k and top-p pairs four times each). 256 threads where the adapter allows (one per histogram
  // bin); workgroup memory: two 256-bin atomic histograms and two WG-entry reduction arrays.
  const uint64_t sample_bytes = 256 * 8 + uint64_t(wg) * 8 + 16;
  const int64_t per = 4, blk = int64_t(wg) * per, nb = (c.vocab_size + blk - 1) / blk;
  const std::pair<const char*, const char*> stages[] = {
      {"sample_prep", "repetition penalty in place, block max / argmax"},
      {"sample_topk_hist", "top-k: one byte of the keys, histogram per block"},
      {"sample_topk_select", "top-k: the bin of the k-th largest key"},
      {"sample_exp", "exp(s - max) of the top-k survivors, block sums"},
      {"sample_topp_hist", "top-p: one byte of the keys, weighted histogram per block"},
      {"sample_topp_select", "top-p: the bin of the smallest kept key"},
      {"sample_sums", "kept weight and count per block"},
      {"sample_pick", "the sampled (or greedy, penalised) token (16-byte read-back)"}};
  for (int64_t st = 0; st < 8; ++st) {
    const bool per_block = st == 0 || st == 1 || st == 3 || st == 4 || st == 6;
    WgslKernelSpec k = p.spec(stages[st].first, "sample", stages[st].second, wg);
    k.values["V"] = c.vocab_size;
    k.values["PER"] = per;
    k.values["BLK"] = blk;
    k.values["NB"] = nb;
    k.values["STAGE"] = st;
    k.values["GRID"] = per_block ? nb : 1;
    p.plan.kernels.push_back(std::move(k));
  }
  check_storage("sample", sample_bytes, opt.limits);
  return std::move(p.plan);
}

}  // namespace slm::codegen
