// slm export --model HF_DIR --quant {q4f16_1,q4f32_1,q0f16,q0f32,auto} --out DIST_DIR [--no-verify] [--eval-data F]
// Writes a WebLLM weight directory — params_shard_N.bin + tensor-cache.json (codegen/export_weights.h),
// mlc-chat-config.json (codegen/chat_config.h), the tokenizer files — into DIST_DIR.tmp-PID, verifies it
// there (f16-range calibration scan of the original, reload + native forward vs the original, weight error
// per tensor; in f32, or in bf16 when two f32 copies of the model would not fit in memory, refused when even
// that does not fit) and only then renames it to DIST_DIR. --quant auto picks q4f16_1 when the scan says f16 is
// safe, else q4f32_1. The verification's numbers (and perplexity on --eval-data) go to DIST_DIR/quality.json;
// q4 exports also get the browser's WGSL kernels and dispatch program in kernels/ (docs/wgsl.md).
// docs/mlc_params.md.
#include <algorithm>
#include <cstdio>
#include <optional>

#include "cli/common.h"
#include "cli/progress.h"
#include "cli/verbs.h"
#include "codegen/export_dir.h"
#include "codegen/export_verify.h"
#include "codegen/export_weights.h"
#include "codegen/wgsl_emit.h"
#include "lora/run_state.h"
#include "models/evaluate.h"
#include "tensor/error.h"
#include "tensor/system_memory.h"

namespace slm::cli {
namespace {

using codegen::Calibration;

struct Plan {
  std::string hf, out, staging;
  ModelConfig config;
  bool auto_quant = false, verify = true;
  quant::Scheme scheme = quant::Scheme::Q4F16_1;
  std::optional<EvalData> eval;  // --eval-data: the user's eval text or chat JSONL
};

std::string trim_slash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool is_f16(quant::Scheme s) { return quant::scheme_info(s).model_dtype == DType::F16; }

// ---- calibration, verification --------------------------------------------------------------------------

// Decides --quant auto and stops q4f16_1 / q0f16 when the original overflows f16.
void check_f16_range(Plan& p, const Calibration& cal) {
  std::fprintf(stderr, "[verify] calibration: %s\n", cal.summary().c_str());
  if (p.auto_quant) {
    p.scheme = cal.f16_safe() ? quant::Scheme::Q4F16_1 : quant::Scheme::Q4F32_1;
    std::fprintf(stderr, "[export] --quant auto: %s — %s\n", quant::scheme_info(p.scheme).name,
                 cal.f16_safe() ? "activations and weights fit f16's range (max 65504)"
                                : "the model exceeds f16's range, which would give inf/NaN in the browser");
    return;
  }
  if (!is_f16(p.scheme) || cal.f16_safe()) return;
  const std::string alt = p.scheme == quant::Scheme::Q0F16 ? "q0f32 (f32 weights and activations)"
                                                           : "q4f32_1 (int4 weights, f32 scales and activations)";
  throw Error(std::string("[export] stopping: ") + quant::scheme_info(p.scheme).name + " computes in f16, but " +
              cal.summary() + "; in the browser this overflows to inf/NaN (the NaN output MLC users hit with Gemma " +
              "and others). Use --quant " + alt + " or --quant auto");
}

void print_weight_errors(std::vector<codegen::WeightError> errs) {
  auto rel = [](const codegen::WeightError& e) { return e.max_abs / std::max(e.max_ref, 1e-30); };
  std::sort(errs.begin(), errs.end(), [&](const auto& a, const auto& b) { return rel(a) > rel(b); });
  const size_t show = errs.size() <= 24 ? errs.size() : 8;
  const std::string which =
      show == errs.size() ? "every tensor" : "the 8 worst of " + std::to_string(errs.size()) + " by max/|w|max";
  std::fprintf(stderr, "[verify] weight error, exported vs original (%s):\n", which.c_str());
  for (size_t i = 0; i < show; ++i)
    std::fprintf(stderr, "[verify]   %-48s max %.3g  mean %.3g  (|w|max %.3g)\n", errs[i].name.c_str(), errs[i].max_abs,
                 errs[i].mean_abs, errs[i].max_ref);
}

void print_quality(const CompareResult& c, ComputeMode mode, const std::string& on) {
  std::fprintf(stderr,
               "[verify] reloaded export vs original (%s compute) on %lld predicted tokens of %s: "
               "perplexity %.4g -> %.4g, mean KL %.3g nats, top-1 agreement %.1f%%, max |dlogit| %.3g\n",
               mode == ComputeMode::F32 ? "f32" : "bf16", (long long)c.positions, on.c_str(), c.ref.perplexity,
               c.test.perplexity, c.mean_kl, 100.0 * c.top1_agreement, c.max_abs_logit_diff);
}

nlohmann::ordered_json compare_json(const CompareResult& c) {
  return {{"tokens", c.positions}, {"perplexity_original", c.ref.perplexity}, {"perplexity_export", c.test.perplexity},
          {"mean_kl_nats", c.mean_kl}, {"top1_agreement", c.top1_agreement}, {"max_abs_logit_diff", c.max_abs_logit_diff}};
}

// DIST/quality.json: the verification's numbers, for `slm pipeline`'s summary and for users' records.
void write_quality(const Plan& p, const codegen::VerifyReport& r) {
  nlohmann::ordered_json q = {{"quantization", quant::scheme_info(p.scheme).name},
                              {"compute", r.mode == ComputeMode::F32 ? "f32" : "bf16"},
                              {"builtin_prompts", compare_json(r.compare)}};
  if (r.has_eval) {
    q["eval"] = compare_json(r.eval_compare);
    q["eval"]["file"] = p.eval->path;
    q["eval"]["kind"] = p.eval->kind;
  }
  double worst = 0;
  for (const auto& e : r.weight_errors) worst = std::max(worst, e.max_abs / std::max(e.max_ref, 1e-30));
  q["weights_worst_max_error_over_max"] = worst;
  write_file_atomic(p.staging + "/quality.json", q.dump(2) + "\n");
}

// Reloads the staged export, compares it with the original (codegen::verify_export) and fails on what must
// not ship (codegen::verify_failure): inf/NaN anywhere in the export's forward, or a q0f32 export that does
// not reproduce the model.
void verify_export(const Plan& p, Model& original, const std::vector<std::vector<int32_t>>& prompts) {
  const codegen::VerifyReport r = codegen::verify_export(p.hf, p.staging, original, prompts, p.eval ? &*p.eval : nullptr);
  print_weight_errors(r.weight_errors);
  print_quality(r.compare, r.mode, "the built-in prompts");
  if (r.has_eval) print_quality(r.eval_compare, r.mode, p.eval->path + " (" + p.eval->kind + ")");
  write_quality(p, r);
  if (p.scheme == quant::Scheme::Q0F32)
    std::fprintf(stderr, "[verify] bound: q0f32 must reproduce the model, max |dlogit| <= 1e-3\n");
  else
    std::fprintf(stderr, "[verify] bound: none on %s logits (reported above); the check fails on inf/NaN only\n",
                 quant::scheme_info(p.scheme).name);
  std::fprintf(stderr, "[verify] done in %.2f s\n", r.seconds);
  const std::string why = codegen::verify_failure(r, p.scheme);
  if (!why.empty()) throw Error("[export] verification failed: " + why);
}

// The compute mode for the original (and, with verification, the reloaded export) that fits in memory.
ComputeMode verify_mode(const Plan& p, const std::vector<std::vector<int32_t>>& prompts) {
  int64_t longest = 0;
  for (const auto& ids : prompts) longest = std::max<int64_t>(longest, int64_t(ids.size()));
  const quant::Scheme s = p.auto_quant ? quant::Scheme::Q4F16_1 : p.scheme;
  const codegen::VerifyPlan plan =
      codegen::plan_verification(p.config, s, longest, available_memory_bytes(), p.verify ? 2 : 1);
  if (!plan.fits && p.verify)
    throw Error("[export] cannot verify: " + plan.describe() +
                " — free memory, or pass --no-verify to export without the check (the export itself holds one "
                "tensor at a time)");
  if (p.verify) std::fprintf(stderr, "[verify] compute mode: %s\n", plan.describe().c_str());
  return plan.mode;
}

// DIST/kernels/: the WGSL kernels and their dispatch program for the browser runtime (docs/wgsl.md). The
// kernels cover the q4 schemes; a q0 export still serves WebLLM-format weights, and the page says why it
// cannot run them.
void write_browser_kernels(const Plan& p) {
  if (!quant::scheme_info(p.scheme).quantized) {
    std::fprintf(stderr, "[export] no browser kernels for %s: the WGSL kernels cover q4f16_1 and q4f32_1 — export with "
                 "one of those for the chat page\n", quant::scheme_info(p.scheme).name);
    return;
  }
  codegen::write_wgsl_kernels(p.staging, p.config, p.scheme);
  std::fprintf(stderr, "[export] browser kernels written to kernels/ (WGSL + kernels.json)\n");
}

void write_export(const Plan& p) {
  const codegen::MlcLayout layout = codegen::mlc_layout(p.config, p.scheme);
  Progress bar("[export]", codegen::planned_bytes(layout, codegen::export_encoding(p.scheme)));
  codegen::ExportOptions opt;
  opt.scheme = p.scheme;
  opt.progress = [&](uint64_t done, uint64_t, const std::string& name) { bar.update(done, name); };
  const codegen::ExportDirResult r = codegen::write_export_dir(p.hf, p.config, opt, p.staging);
  const codegen::ExportStats& st = r.weights;
  bar.finish();
  std::fprintf(stderr, "[export] %lld tensors in %d shard(s), %s read, %.2f bits/param\n", (long long)st.param_count,
               st.shards, Progress::bytes_text(double(st.bytes_read)).c_str(),
               st.source_params ? double(st.param_bytes) * 8.0 / double(st.source_params) : 0.0);
  write_browser_kernels(p);
  if (!r.config_changes.empty())
    std::fprintf(stderr, "[export] mlc-chat-config.json: %zu field(s) changed from the model's files:\n%s",
                 r.config_changes.size(), codegen::format_config_changes(r.config_changes).c_str());
}

int run_export(const Args& a) {
  Plan p;
  for (const char* req : {"--model", "--quant", "--out"})
    if (!a.has(req)) throw UsageError{std::string(req) + " is required"};
  p.hf = trim_slash(a.str("--model"));
  p.out = trim_slash(a.str("--out"));
  p.verify = !a.flag("--no-verify");
  const std::string q = a.str("--quant");
  p.auto_quant = q == "auto";
  if (!p.auto_quant && !quant::scheme_from_name(q, &p.scheme))
    throw UsageError{"--quant expects q4f16_1, q4f32_1, q0f16, q0f32 or auto, got '" + q + "'"};
  p.config = load_config(p.hf);
  if (a.has("--eval-data")) {
    if (!p.verify) throw UsageError{"--eval-data is measured by the verification: drop --no-verify"};
    p.eval = load_eval_data(a.str("--eval-data"), p.hf);
  }
  codegen::check_export_out_dir(p.out);
  codegen::mlc_layout(p.config, p.auto_quant ? quant::Scheme::Q4F16_1 : p.scheme);  // fails early if unsupported
  std::fprintf(stderr, "[export] %s (%s) -> %s, quant %s, verify %s\n", p.hf.c_str(), p.config.model_type.c_str(),
               p.out.c_str(), q.c_str(), p.verify ? "on" : "off");

  std::unique_ptr<Model> original;
  std::vector<std::vector<int32_t>> prompts;
  if (p.verify || p.auto_quant) {
    prompts = codegen::verify_prompts(p.hf, p.config.vocab_size);
    original = load_model(p.hf, verify_mode(p, prompts));
    check_f16_range(p, codegen::calibrate(*original, prompts, p.hf));
  }
  codegen::ExportStaging staging(p.out);
  p.staging = staging.path();
  write_export(p);
  if (p.verify) verify_export(p, *original, prompts);
  staging.commit();
  std::printf("exported %s (%s) to %s\n", p.hf.c_str(), quant::scheme_info(p.scheme).name, p.out.c_str());
  return 0;
}

}  // namespace

Verb make_export_verb() {
  return {"export",
          "--model HF_DIR --quant {q4f16_1,q4f32_1,q0f16,q0f32,auto} --out DIST_DIR [--no-verify] [--eval-data F]",
          "Write a WebLLM weight directory (tensor-cache.json + shards, mlc-chat-config.json, tokenizer), verified "
          "against the original before it is renamed into place.",
          {},
          {{"--model", "HF_DIR", "Hugging Face model directory (config.json + safetensors)", ""},
           {"--quant", "SCHEME", "q4f16_1, q4f32_1, q0f16, q0f32, or auto (q4f16_1 unless f16 would overflow)", ""},
           {"--out", "DIST_DIR", "output directory (created, or a previous export replaced atomically)", ""},
           {"--no-verify", "", "skip the calibration scan and the reload-and-compare check", ""},
           {"--eval-data", "F", "also compare perplexity of the original and the export on F (text, or chat .jsonl: "
            "assistant tokens)", ""}},
          run_export};
}

}  // namespace slm::cli
