// The WGSL emitter: fills the templates of codegen/wgsl/ (embedded into the binary at build time) with a
// kernel spec's values (wgsl_plan.h) and writes a model's kernels plus the kernels.json manifest that tells
// a runtime each kernel's bindings, uniform fields, workgroup size and dispatch size. Templates + the table
// in codegen/wgsl/variants.json are the source of the shaders; this file only fills and checks them.
// Template syntax: {{NAME}} a value, {{#FLAG}}…{{/FLAG}} kept iff FLAG is true, {{^FLAG}}…{{/FLAG}} iff false,
// {{>file}} another template (without .wgsl) filled with the same values. A tag alone on its line takes the
// line with it. Unknown names, non-boolean flags, unclosed sections and unused values are errors.
// Not here: which kernels a model needs (wgsl_plan), running them (web/, tests/web/), the dispatch sequence.
// Docs: docs/wgsl.md.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/wgsl_plan.h"

namespace slm::codegen {

// Fills `text`; `origin` names the template in errors. Partials are looked up with wgsl_template_text.
// Every value must be used by the template or its partials (a misspelt name would otherwise be silent);
// the keys in `optional` are exempt.
std::string wgsl_fill(std::string_view text, const nlohmann::ordered_json& values, const std::string& origin,
                      const std::vector<std::string>& optional = {});

// An embedded file of codegen/wgsl/ ("gemv_q4.wgsl", "variants.json"); throws naming the file when absent.
const std::string& wgsl_template_text(const std::string& file);
std::vector<std::string> wgsl_template_files();
// codegen/wgsl/variants.json, parsed.
const nlohmann::ordered_json& wgsl_variants();

// A value as WGSL source: integers as digits, floats as the shortest f32 literal that round-trips (with a
// '.' or exponent), arrays comma-separated, strings verbatim. Non-finite floats are errors.
std::string wgsl_literal(const nlohmann::ordered_json& v, const std::string& what);

struct WgslKernel {
  std::string name;
  std::string wgsl;
  nlohmann::ordered_json info;  // this kernel's entry of kernels.json
};

struct WgslKernelSet {
  std::vector<WgslKernel> kernels;
  nlohmann::ordered_json manifest;  // kernels.json
};

// One kernel from its spec: bindings from variants.json (filtered by the flags), placeholders filled,
// the limits checked (storage buffers per stage, constant binding sizes, workgroup size).
WgslKernel wgsl_emit_kernel(const WgslKernelSpec& spec, const WgslLimits& limits);

// The kernels of a model and their manifest.
WgslKernelSet emit_wgsl_kernels(const ModelConfig& config, quant::Scheme scheme, const WgslOptions& options = {});

// Writes DIST_DIR/kernels/<name>.wgsl for every kernel and DIST_DIR/kernels/kernels.json. The folder is
// staged as DIST_DIR/kernels.tmp-PID and renamed into place (replacing an earlier kernels/), so a reader
// never sees half of it; inside slm export's staging directory that rename is part of the export's own.
void write_wgsl_kernels(const std::string& dist_dir, const ModelConfig& config, quant::Scheme scheme,
                        const WgslOptions& options = {});

// Evaluates a manifest expression ("ceil(T*64/256)", "T*6", "148"): non-negative integers, the run-time
// variables in `vars`, + - * /, parentheses and ceil(a/b) (integer ceiling division; '/' alone floors).
int64_t wgsl_eval(const std::string& expr, const std::map<std::string, int64_t>& vars);

}  // namespace slm::codegen
