// slm info MODEL_DIR — family, parameter count, dtype, layers, heads, vocab, context. MODEL_DIR may also be an
// export directory (slm export --out): then the quantisation, shards and stored bytes instead of the dtype,
// read from mlc-chat-config.json and tensor-cache.json (every record the layout needs checked, no weights read).
#include <cstdio>

#include "cli/verbs.h"
#include "codegen/export_load.h"
#include "codegen/mlc_layout.h"
#include "codegen/tensor_cache.h"
#include "models/model.h"
#include "quant/group_quant.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

namespace slm::cli {

static std::string rope_text(const RopeParams& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s theta=%g", p.rope_type.c_str(), p.rope_theta);
  std::string s = buf;
  if (p.rope_type != "default") s += " factor=" + std::to_string(p.factor);
  if (p.partial_rotary_factor < 1) s += " partial_rotary_factor=" + std::to_string(p.partial_rotary_factor);
  return s;
}

// The lines every model shows after its storage line (dtype or quantisation).
static void print_shape_lines(const ModelConfig& c) {
  int64_t sliding = 0;
  for (auto t : c.layer_types) sliding += t == LayerType::SlidingAttention;
  std::printf("layers        %lld (%lld sliding-window)\n", (long long)c.num_hidden_layers, (long long)sliding);
  std::printf("hidden        %lld, intermediate %lld\n", (long long)c.hidden_size, (long long)c.intermediate_size);
  std::printf("heads         %lld query, %lld key/value, head_dim %lld\n", (long long)c.num_attention_heads,
              (long long)c.num_key_value_heads, (long long)c.head_dim);
  std::printf("vocab         %lld%s\n", (long long)c.vocab_size, c.tie_word_embeddings ? " (tied embeddings)" : "");
  std::printf("context       %lld\n", (long long)c.max_position_embeddings);
  if (c.sliding_window) std::printf("sliding       window %lld\n", (long long)c.sliding_window);
  std::printf("rope          %s\n", rope_text(c.rope_full).c_str());
  if (sliding && c.model_type == "gemma3_text") std::printf("rope (local)  %s\n", rope_text(c.rope_sliding).c_str());
  if (c.attn_logit_softcapping > 0 || c.final_logit_softcapping > 0)
    std::printf("soft-cap      attention %g, final %g\n", c.attn_logit_softcapping, c.final_logit_softcapping);
  for (const auto& n : c.notes) std::printf("note          %s\n", n.c_str());
}

static void print_header(const std::string& dir, const ModelConfig& c, int64_t params) {
  std::printf("model         %s\n", dir.c_str());
  std::printf("family        %s%s\n", c.model_type.c_str(),
              c.architecture.empty() ? "" : (" (" + c.architecture + ")").c_str());
  std::printf("parameters    %lld (%.3f B)\n", (long long)params, params / 1e9);
}

static int info_export(const std::string& dir) {
  const codegen::ExportConfig ec = codegen::load_export_config(dir);
  const codegen::TensorCache cache = codegen::TensorCache::open(dir);  // shard files present, sizes match
  for (const auto& p : codegen::mlc_layout(ec.config, ec.scheme).params) {
    const codegen::CacheRecord* r = cache.find(p.name);
    if (!r || r->shape != p.shape || r->dtype != p.dtype)
      throw Error("[info] " + dir + "/tensor-cache.json: " +
                  (r ? "record '" + p.name + "' is " + shape_str(r->shape) + " " + r->dtype + ", expected " +
                           shape_str(p.shape) + " " + p.dtype
                     : "no record '" + p.name + "'") +
                  " — the export is incomplete or does not match its mlc-chat-config.json; export again");
  }
  const int64_t params = make_model(ec.config, ComputeMode::F32, {})->parameter_count();
  uint64_t bytes = 0;
  for (const auto& s : cache.shards()) bytes += s.nbytes;
  const quant::SchemeInfo& q = quant::scheme_info(ec.scheme);
  print_header(dir + " (export)", ec.config, params);
  if (q.quantized)
    std::printf("quantization  %s (int%d, groups of %lld, %s scales)\n", q.name, q.bits, (long long)q.group_size,
                std::string(dtype_name(q.model_dtype)).c_str());
  else
    std::printf("quantization  %s (%s weights)\n", q.name, std::string(dtype_name(q.model_dtype)).c_str());
  std::printf("shards        %zu, %llu bytes (%.1f MB, %.2f bits/param)\n", cache.shards().size(),
              (unsigned long long)bytes, double(bytes) / 1e6, params ? double(bytes) * 8.0 / double(params) : 0.0);
  print_shape_lines(ec.config);
  return 0;
}

static int run_info(const Args& a) {
  const std::string dir = a.positional[0];
  if (codegen::is_export_dir(dir)) return info_export(dir);
  std::unique_ptr<Model> m = load_model(dir);  // validates the weights against the config too
  const ModelConfig& c = m->config();
  print_header(dir, c, m->parameter_count());
  std::printf("dtype         %s\n", std::string(dtype_name(c.dtype)).c_str());
  print_shape_lines(c);
  return 0;
}

Verb make_info_verb() {
  return {"info",
          "MODEL_DIR",
          "Show a model's (or an export's) family, parameter count, dtype or quantisation, layers, heads, vocab and "
          "context.",
          {"MODEL_DIR"},
          {},
          run_info};
}

}  // namespace slm::cli
