// The dispatch program (see wgsl_program.h). Per layer, decode:
//   gemv_qkv (input norm folded in) → split attention (q/k norm, RoPE and the cache append folded in) → merge →
//   gemv_o (+= resid) → gemv_gate_up (mlp norm and act·up folded in) → gemv_down (+= resid);
// prefill (T tokens): rmsnorm → gemm_qkv → rope_kv → attention → gemm_o (+= resid) → rmsnorm → gemm_gate_up →
//   gated_act → gemm_down (+= resid).
// Gemma-2/3 store o/down in `o` and add their post-norm into the residual (rmsnorm_add). Then gemv_lm_head on
// the last row (final norm folded in) and argmax, or the sampling stages.
#include "codegen/wgsl_program.h"

#include <algorithm>

#include "tensor/error.h"

namespace slm::codegen {

using json = nlohmann::ordered_json;

namespace {

std::string str(int64_t v) { return std::to_string(v); }

std::string for_layer(std::string name, int64_t layer) {
  for (size_t at = name.find("{L}"); at != std::string::npos; at = name.find("{L}"))
    name.replace(at, 3, std::to_string(layer));
  return name;
}

struct Builder {
  const ModelConfig& c;
  const WgslPlan& plan;

  const WgslKernelSpec& kernel(const std::string& name) const {
    for (const WgslKernelSpec& k : plan.kernels)
      if (k.name == name) return k;
    throw Error("[wgsl] the program needs kernel '" + name + "', which the plan of this " + c.model_type +
                " model does not have — wgsl_plan.cpp and wgsl_program.cpp disagree");
  }
  bool has(const std::string& name) const {
    return std::any_of(plan.kernels.begin(), plan.kernels.end(), [&](const WgslKernelSpec& k) { return k.name == name; });
  }
  bool sandwich() const { return plan.norms.count("post_attention") > 0; }
  std::string norm(const std::string& which, int64_t layer) const { return for_layer(plan.norms.at(which), layer); }

  // A step: `buffers` binds activation buffers by binding name; the kernel's MLC parameters are bound from the
  // plan (layer substituted) unless `params` overrides them (the standalone rmsnorm's weight).
  json step(const std::string& name, int64_t layer, const std::map<std::string, std::string>& buffers,
            const std::map<std::string, std::string>& params, json uniform) const {
    const WgslKernelSpec& k = kernel(name);
    json bind = json::object();
    for (const auto& [b, buf] : buffers) bind[b] = {{"buffer", buf}};
    for (const auto& [b, p] : k.params) bind[b] = {{"param", for_layer(p, layer)}};
    for (const auto& [b, p] : params) bind[b] = {{"param", p}};
    json s = {{"kernel", name}};
    if (layer >= 0) s["layer"] = layer;
    s["bind"] = bind;
    s["uniform"] = std::move(uniform);
    return s;
  }

  std::vector<std::string> qkv_parts() const {
    if (has("gemv_qkv")) return {"qkv"};
    return {"q", "k", "v"};
  }
  std::string rope_buffer(const json& layer) const {
    const std::string type = layer["type"].get<std::string>();
    return kernel(layer["rope_kv"].get<std::string>()).values["ROPE_INLINE"].get<bool>() ? "" : "rope_" + type;
  }
  std::map<std::string, std::string> rope_kv_buffers(int64_t l) const {
    const json& layer = plan.layers[size_t(l)];
    std::map<std::string, std::string> b = {
        {"qkv", "qkv"}, {"q_out", "q"}, {"k_cache", "k_cache." + str(l)}, {"v_cache", "v_cache." + str(l)}};
    if (const std::string r = rope_buffer(layer); !r.empty()) b["rope"] = r;
    return b;
  }
  std::map<std::string, std::string> attention_buffers(int64_t l) const {
    return {{"q", "q"}, {"k_cache", "k_cache." + str(l)}, {"v_cache", "v_cache." + str(l)}, {"out", "attn"}};
  }

  void decode_layer(int64_t l, json& steps) const {
    const json& layer = plan.layers[size_t(l)];
    const json row0 = {{"x_row", "0"}};
    for (const std::string& part : qkv_parts()) steps.push_back(step("gemv_" + part, l, {{"x", "resid"}, {"y", "qkv"}}, {}, row0));
    // Split attention (rope_kv's work for the new token folded in): every chunk of the head's keys in its own
    // workgroup, then the merge.
    const std::string split = layer["attention_split"].get<std::string>();
    std::map<std::string, std::string> split_buffers = {
        {"qkv", "qkv"}, {"k_cache", "k_cache." + str(l)}, {"v_cache", "v_cache." + str(l)}, {"part", "part"}};
    if (const std::string r = rope_buffer(layer); !r.empty()) split_buffers["rope"] = r;
    // Chunks that can hold visible keys: positions [0, pos0 + T) in chunks of the kernel's KPC keys (the grid
    // covers ceil(S/KPC) and the surplus workgroups return at once); the merge reads only these.
    const std::string nsplit = "ceil((pos0+T)/" + std::to_string(kernel(split).values["KPC"].get<int64_t>()) + ")";
    steps.push_back(step(split, l, split_buffers, {}, {{"T", "1"}, {"pos0", "pos0"}, {"nsplit", nsplit}}));
    steps.push_back(step("attention_merge", l, {{"part", "part"}, {"out", "attn"}}, {}, {{"T", "1"}, {"nsplit", nsplit}}));
    sublayer_out(l, "gemv_o", "attn", "post_attention", row0, {{"rows", "1"}}, steps);
    steps.push_back(step("gemv_gate_up", l, {{"x", "resid"}, {"y", "act"}}, {}, row0));
    sublayer_out(l, "gemv_down", "act", "post_feedforward", row0, {{"rows", "1"}}, steps);
  }

  // o_proj / down_proj: accumulated into the residual, or (sandwich) stored in `o` and post-normed into it.
  void sublayer_out(int64_t l, const std::string& k, const std::string& x, const std::string& post, json uniform,
                    json rows, json& steps) const {
    if (!sandwich()) {
      steps.push_back(step(k, l, {{"x", x}, {"y", "resid"}}, {}, std::move(uniform)));
      return;
    }
    steps.push_back(step(k, l, {{"x", x}, {"y", "o"}}, {}, std::move(uniform)));
    steps.push_back(step("rmsnorm_add", l, {{"x", "o"}, {"y", "resid"}}, {{"w", norm(post, l)}}, std::move(rows)));
  }

  void prefill_layer(int64_t l, json& steps) const {
    const json& layer = plan.layers[size_t(l)];
    const json T = {{"T", "T"}}, rows = {{"rows", "T"}};
    steps.push_back(step("rmsnorm", l, {{"x", "resid"}, {"y", "h"}}, {{"w", norm("input", l)}}, rows));
    for (const std::string& part : qkv_parts()) steps.push_back(step("gemm_" + part, l, {{"x", "h"}, {"y", "qkv"}}, {}, T));
    steps.push_back(step(layer["rope_kv"].get<std::string>(), l, rope_kv_buffers(l), {}, {{"T", "T"}, {"pos0", "pos0"}}));
    steps.push_back(step(layer["attention"].get<std::string>(), l, attention_buffers(l), {}, {{"T", "T"}, {"pos0", "pos0"}}));
    sublayer_out(l, "gemm_o", "attn", "post_attention", T, rows, steps);
    steps.push_back(step("rmsnorm", l, {{"x", "resid"}, {"y", "h"}}, {{"w", norm("mlp", l)}}, rows));
    steps.push_back(step("gemm_gate_up", l, {{"x", "h"}, {"y", "gu"}}, {}, T));
    steps.push_back(step("gated_act", l, {{"gu", "gu"}, {"y", "act"}}, {}, T));
    sublayer_out(l, "gemm_down", "act", "post_feedforward", T, rows, steps);
  }

  json buffers() const {
    const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, H = c.num_attention_heads,
                  Hkv = c.num_key_value_heads, D = c.head_dim;
    const int64_t qkv_n = (H + 2 * Hkv) * D;
    json b = json::array();
    auto add = [&](const std::string& name, const std::string& bytes, const std::string& what) {
      b.push_back({{"name", name}, {"bytes", bytes}, {"what", what}});
    };
    add("ids", "T*4", "(T) u32 token ids of this forward");
    add("resid", "T*" + str(C) + "*4", "(T, C) residual stream");
    add("h", "T*" + str(C) + "*4", "(T, C) normed input of a projection (prefill)");
    add("qkv", "T*" + str(qkv_n) + "*4", "(T, (H+2*HKV)*D) q|k|v projections");
    add("q", "T*" + str(H * D) + "*4", "(T, H*D) rotated queries");
    const int64_t kpc = kernel(plan.layers[0]["attention_split"].get<std::string>()).values["KPC"].get<int64_t>();
    add("part", str(H) + "*ceil(S/" + std::to_string(kpc) + ")*" + str(D + 2) + "*4",
        "(H, nsplit, D+2) split-attention partials of the decoded token");
    add("attn", "T*" + str(H * D) + "*4", "(T, H*D) attention output");
    if (sandwich()) add("o", "T*" + str(C) + "*4", "(T, C) o_proj / down_proj output before its post-norm");
    add("gu", "T*" + str(2 * F) + "*4", "(T, 2F) gate|up (prefill)");
    add("act", "T*" + str(F) + "*4", "(T, F) act(gate)*up");
    add("logits", str(V) + "*4", "(V) logits of the last token");
    add("scratch", str(V) + "*4", "(V) sampling weights");
    const int64_t nb = kernel("sample_prep").values["NB"].get<int64_t>();
    add("sample_parts", "(16+517*" + str(nb) + ")*4", "sampling state, per-block results and histograms (sample.wgsl)");
    add("penalty_mask", str((V + 31) / 32) + "*4",
        "(ceil(V/32)) u32 bit mask of the ids the repetition penalty applies to; the pick adds the chosen token");
    add("out", "16", "[token, kept, 0, 0] u32: the one read-back per token");
    for (const json& r : rope_tables()) add(r["buffer"].get<std::string>(), "P*" + str(r["rotary_dim"].get<int64_t>()) + "*4", "(P, ROT) rope cos|sin table");
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      add("k_cache." + str(l), "S*" + str(Hkv * D) + "*4", "(S, HKV*D) keys of layer " + str(l));
      add("v_cache." + str(l), "S*" + str(Hkv * D) + "*4", "(S, HKV*D) values of layer " + str(l));
    }
    return b;
  }

  // One table buffer per layer type that reads a table: inv_freq and scaling per range of sequence length
  // (max position + 1), as rope_freqs(params, seq_len) selects them.
  json rope_tables() const {
    json out = json::array();
    for (const char* type : {"full", "sliding"}) {
      for (const json& layer : plan.layers) {
        if (layer["type"] != type || rope_buffer(layer).empty()) continue;
        const RopeParams& rp = std::string(type) == "sliding" ? c.rope_sliding : c.rope_full;
        json ranges = json::array();
        auto range = [&](int64_t seq_len, int64_t upto) {
          const RopeFreqs f = rope_freqs(rp, seq_len);
          ranges.push_back({{"max_seq_len", upto}, {"inv_freq", f.inv_freq}, {"attention_scaling", f.attention_scaling}});
        };
        if (rp.rope_type == "longrope") {
          const int64_t orig = rp.original_max_position_embeddings;
          range(orig, orig);
          range(orig + 1, 0);
        } else if (rp.rope_type == "dynamic") {
          range(c.max_position_embeddings, c.max_position_embeddings);
        } else {
          range(1, 0);
        }
        out.push_back({{"buffer", rope_buffer(layer)}, {"rotary_dim", rope_rotary_dim(rp)}, {"ranges", ranges}});
        break;
      }
    }
    return out;
  }

  // Sequence length past which the KV cache must be recomputed (Phi-3 longrope switches to its long factors
  // for every position, as Phi3ForCausalLM does; models/generate.cpp).
  int64_t recompute_at() const {
    for (const json& r : rope_tables())
      if (r["ranges"].size() > 1) return r["ranges"][0]["max_seq_len"].get<int64_t>();
    return 0;
  }
};

}  // namespace

json wgsl_program(const ModelConfig& c, const WgslPlan& plan) {
  Builder b{c, plan};
  json prefill = json::array(), decode = json::array();
  prefill.push_back(b.step("embed", -1, {{"ids", "ids"}, {"y", "resid"}}, {}, {{"T", "T"}}));
  decode.push_back(b.step("embed", -1, {{"ids", "ids"}, {"y", "resid"}}, {}, {{"T", "1"}}));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    b.prefill_layer(l, prefill);
    b.decode_layer(l, decode);
  }
  prefill.push_back(b.step("gemv_lm_head", -1, {{"x", "resid"}, {"y", "logits"}}, {}, {{"x_row", "T-1"}}));
  decode.push_back(b.step("gemv_lm_head", -1, {{"x", "resid"}, {"y", "logits"}}, {}, {{"x_row", "0"}}));
  json greedy = b.step("argmax", -1, {{"logits", "logits"}, {"out", "out"}}, {}, json::object());
  // Sampling: the stages of sample.wgsl in order, the top-k and top-p histogram/select pairs once per key byte.
  json sample = json::array();
  const std::map<std::string, std::string> sample_buffers = {
      {"logits", "logits"}, {"penalty_mask", "penalty_mask"}, {"scratch", "scratch"}, {"parts", "sample_parts"}, {"out", "out"}};
  // "when": the filter a step serves; the runtime leaves it out of a token whose request does not use it (the
  // stages themselves also do nothing then, so running it is only slower).
  auto sample_step = [&](const char* k, const char* when = nullptr) {
    json st = b.step(k, -1, sample_buffers, {}, json::object());
    if (when) st["when"] = when;
    sample.push_back(std::move(st));
  };
  sample_step("sample_prep");
  for (int round = 0; round < 4; ++round) {
    sample_step("sample_topk_hist", "top_k");
    sample_step("sample_topk_select", "top_k");
  }
  sample_step("sample_exp");
  for (int round = 0; round < 4; ++round) {
    sample_step("sample_topp_hist", "top_p");
    sample_step("sample_topp_select", "top_p");
  }
  sample_step("sample_sums");
  sample_step("sample_pick");
  return {{"format", "slm-program/1"},
          {"variables", {{"T", "tokens of this forward (prefill: at most the prefill chunk; decode: 1)"},
                         {"pos0", "KV-cache position of the first of them"},
                         {"S", "KV-cache positions allocated"},
                         {"P", "rope-table rows (= S)"}}},
          {"buffers", b.buffers()},
          {"rope_tables", b.rope_tables()},
          {"context_window", c.max_position_embeddings},
          {"recompute_at", b.recompute_at()},
          {"prefill", prefill},
          {"decode", decode},
          {"greedy", greedy},
          {"sample", sample}};
}

}  // namespace slm::codegen
