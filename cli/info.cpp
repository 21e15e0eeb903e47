// slm info MODEL_DIR — family, parameter count, dtype, layers, heads, vocab, context.
#include <cstdio>

#include "cli/verbs.h"
#include "models/model.h"
#include "tensor/dtype.h"

namespace slm::cli {

static std::string rope_text(const RopeParams& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s theta=%g", p.rope_type.c_str(), p.rope_theta);
  std::string s = buf;
  if (p.rope_type != "default") s += " factor=" + std::to_string(p.factor);
  if (p.partial_rotary_factor < 1) s += " partial_rotary_factor=" + std::to_string(p.partial_rotary_factor);
  return s;
}

static int run_info(const Args& a) {
  const std::string dir = a.positional[0];
  std::unique_ptr<Model> m = load_model(dir);  // validates the weights against the config too
  const ModelConfig& c = m->config();
  int64_t sliding = 0;
  for (auto t : c.layer_types) sliding += t == LayerType::SlidingAttention;
  std::printf("model         %s\n", dir.c_str());
  std::printf("family        %s%s\n", c.model_type.c_str(),
              c.architecture.empty() ? "" : (" (" + c.architecture + ")").c_str());
  std::printf("parameters    %lld (%.3f B)\n", (long long)m->parameter_count(), m->parameter_count() / 1e9);
  std::printf("dtype         %s\n", std::string(dtype_name(c.dtype)).c_str());
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
  return 0;
}

Verb make_info_verb() {
  return {"info", "MODEL_DIR", "Show a model's family, parameter count, dtype, layers, heads, vocab and context.",
          {"MODEL_DIR"}, {}, run_info};
}

}  // namespace slm::cli
