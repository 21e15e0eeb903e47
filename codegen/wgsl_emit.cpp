// WGSL template filling, kernel emission and the kernels.json manifest (see wgsl_emit.h).
#include "codegen/wgsl_emit.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "codegen/wgsl_program.h"
#include "tensor/error.h"

namespace slm::codegen {

namespace detail {
struct WgslEmbeddedFile {
  const char* name;
  const unsigned char* data;
  size_t size;
};
extern const WgslEmbeddedFile kWgslFiles[];  // generated from codegen/wgsl/ (codegen/wgsl/embed.cmake)
extern const size_t kWgslFileCount;
}  // namespace detail

using json = nlohmann::ordered_json;

namespace {

// ---- template engine ----------------------------------------------------------------------------

struct Node {
  enum Kind { Text, Var, Section, Inverted, Partial };
  Node(Kind k, std::string name) : kind(k), s(std::move(name)) {}
  Kind kind = Text;
  std::string s;  // text, or the name
  bool standalone = false;  // Var alone on its line: an empty value removes the line
  std::string indent;       // Var standalone: the line's leading whitespace
  bool newline = false;     // Var standalone: its line ended in a newline
  std::vector<Node> children;
};

bool valid_name(const std::string& n) {
  if (n.empty()) return false;
  for (char ch : n)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) return false;
  return true;
}

// Parses `text` into a tree. A section/partial tag alone on its line removes the line's whitespace and newline.
std::vector<Node> parse(std::string_view text, const std::string& origin) {
  std::vector<Node> root;
  std::vector<std::pair<std::vector<Node>*, std::string>> stack{{&root, ""}};
  size_t i = 0;
  auto line_of = [&](size_t pos) { return std::to_string(1 + std::count(text.begin(), text.begin() + long(pos), '\n')); };
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) open = text.size();
    std::string pending(text.substr(i, open - i));
    if (open == text.size()) {
      if (!pending.empty()) stack.back().first->push_back(Node(Node::Text, pending));
      break;
    }
    const size_t close = text.find("}}", open);
    SLM_CHECK(close != std::string_view::npos, "[wgsl] " + origin + ":" + line_of(open) + ": '{{' without '}}'");
    std::string tag(text.substr(open + 2, close - open - 2));
    Node::Kind kind = Node::Var;
    bool closing = false;
    if (!tag.empty() && (tag[0] == '#' || tag[0] == '^' || tag[0] == '/' || tag[0] == '>')) {
      kind = tag[0] == '#' ? Node::Section : tag[0] == '^' ? Node::Inverted : Node::Partial;
      closing = tag[0] == '/';
      tag = tag.substr(1);
    }
    SLM_CHECK(valid_name(tag), "[wgsl] " + origin + ":" + line_of(open) + ": bad tag name '" + tag + "'");
    // Standalone: only whitespace between the previous newline and the tag, and between the tag and the next.
    const size_t line_start = text.rfind('\n', open == 0 ? 0 : open - 1);
    const size_t ls = (line_start == std::string_view::npos || open == 0) ? 0 : line_start + 1;
    size_t le = text.find('\n', close + 2);
    const bool before_ws = text.substr(ls, open - ls).find_first_not_of(" \t") == std::string_view::npos &&
                           (ls >= i || pending.size() >= open - ls);
    const bool after_ws = text.substr(close + 2, (le == std::string_view::npos ? text.size() : le) - close - 2)
                              .find_first_not_of(" \t") == std::string_view::npos;
    const bool standalone = before_ws && after_ws;
    size_t next = close + 2;
    std::string indent;
    if (standalone) {
      indent = std::string(text.substr(ls, open - ls));
      pending.resize(pending.size() - indent.size());
      next = le == std::string_view::npos ? text.size() : le + 1;
    }
    if (!pending.empty()) stack.back().first->push_back(Node(Node::Text, pending));
    if (closing) {
      SLM_CHECK(stack.size() > 1 && stack.back().second == tag,
                "[wgsl] " + origin + ":" + line_of(open) + ": {{/" + tag + "}} closes " +
                    (stack.size() > 1 ? "{{#" + stack.back().second + "}}" : "nothing"));
      stack.pop_back();
    } else if (kind == Node::Section || kind == Node::Inverted) {
      stack.back().first->push_back(Node(kind, tag));
      stack.push_back({&stack.back().first->back().children, tag});
    } else if (kind == Node::Partial) {
      stack.back().first->push_back(Node(Node::Partial, tag));
    } else {
      Node v(Node::Var, tag);
      v.standalone = standalone;
      v.indent = indent;
      v.newline = standalone && le != std::string_view::npos;
      stack.back().first->push_back(v);
    }
    i = next;
  }
  SLM_CHECK(stack.size() == 1, "[wgsl] " + origin + ": {{#" + stack.back().second + "}} is never closed");
  return root;
}

// Renders trees against one set of values, recording every name the templates mention (also in sections
// that are skipped), so unused values can be reported.
struct Filler {
  explicit Filler(const json& v) : values(v) {}
  const json& values;
  std::set<std::string> seen;
  int depth = 0;

  const json& lookup(const std::string& name, const std::string& origin) {
    SLM_CHECK(values.contains(name), "[wgsl] " + origin + ": placeholder {{" + name + "}} has no value");
    return values[name];
  }
  void render(const std::vector<Node>& nodes, const std::string& origin, std::string* out) {
    for (const Node& n : nodes) {
      if (n.kind != Node::Text) seen.insert(n.s);
      if (!out) {  // dry walk of a skipped section
        if (n.kind == Node::Partial) partial(n.s, nullptr);
        render(n.children, origin, nullptr);
        continue;
      }
      switch (n.kind) {
        case Node::Text: *out += n.s; break;
        case Node::Var: {
          std::string v = wgsl_literal(lookup(n.s, origin), origin + " {{" + n.s + "}}");
          if (n.standalone) {
            if (!v.empty()) *out += n.indent + v + (n.newline ? "\n" : "");
          } else {
            *out += v;
          }
          break;
        }
        case Node::Section:
        case Node::Inverted: {
          const json& f = lookup(n.s, origin);
          SLM_CHECK(f.is_boolean(), "[wgsl] " + origin + ": section {{#" + n.s + "}} needs a true/false value, got " + f.dump());
          render(n.children, origin, f.get<bool>() == (n.kind == Node::Section) ? out : nullptr);
          break;
        }
        case Node::Partial: partial(n.s, out); break;
      }
    }
  }
  void partial(const std::string& name, std::string* out) {
    SLM_CHECK(depth < 8, "[wgsl] partial {{>" + name + "}} nests too deeply (a cycle?)");
    ++depth;
    const std::string file = name + ".wgsl";
    render(parse(wgsl_template_text(file), file), file, out);
    --depth;
  }
  std::string fill(std::string_view text, const std::string& origin) {
    std::string out;
    render(parse(text, origin), origin, &out);
    return out;
  }
  void check_unused(const std::string& origin, const std::vector<std::string>& optional) const {
    for (auto& [k, v] : values.items()) {
      if (seen.count(k) || std::find(optional.begin(), optional.end(), k) != optional.end()) continue;
      throw Error("[wgsl] " + origin + ": value '" + k + "' is not used by the template (a misspelt placeholder?)");
    }
  }
};

// ---- expressions --------------------------------------------------------------------------------

struct ExprParser {
  const std::string& s;
  const std::map<std::string, int64_t>& vars;
  size_t i = 0;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error("[wgsl] expression '" + s + "': " + why + " at offset " + std::to_string(i));
  }
  void ws() {
    while (i < s.size() && s[i] == ' ') ++i;
  }
  bool eat(char ch) {
    ws();
    if (i < s.size() && s[i] == ch) {
      ++i;
      return true;
    }
    return false;
  }
  int64_t expr() {
    int64_t v = term();
    for (;;) {
      if (eat('+')) v += term();
      else if (eat('-')) v -= term();
      else return v;
    }
  }
  int64_t term() {
    int64_t v = factor();
    for (;;) {
      if (eat('*')) {
        v *= factor();
      } else if (eat('/')) {
        int64_t d = factor();
        if (d == 0) fail("division by zero");
        v /= d;
      } else {
        return v;
      }
    }
  }
  int64_t factor() {
    ws();
    if (eat('(')) {
      int64_t v = expr();
      if (!eat(')')) fail("')' expected");
      return v;
    }
    if (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      int64_t v = 0;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) v = v * 10 + (s[i++] - '0');
      return v;
    }
    size_t b = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    const std::string name = s.substr(b, i - b);
    if (name.empty()) fail("a number, a variable or '(' expected");
    if (name == "ceil") {
      if (!eat('(')) fail("'(' expected after ceil");
      int64_t a = term_no_div();
      if (!eat('/')) fail("ceil(a/b) expected");
      int64_t d = term_no_div();
      while (eat('/')) d *= term_no_div();  // ceil(a/b/c) = ceil(a / (b*c))
      if (!eat(')')) fail("')' expected");
      if (d == 0) fail("division by zero");
      return (a + d - 1) / d;
    }
    auto it = vars.find(name);
    if (it == vars.end()) fail("unknown variable '" + name + "'");
    return it->second;
  }
  // Inside ceil(a/b): a and b are products; further /c multiply the denominator.
  int64_t term_no_div() {
    int64_t v = factor();
    while (eat('*')) v *= factor();
    return v;
  }
};

std::string fold(const std::string& expr) {
  try {
    return std::to_string(wgsl_eval(expr, {}));
  } catch (const Error&) {
    return expr;  // has run-time variables
  }
}

json expr_json(const std::string& expr) {
  const std::string f = fold(expr);
  if (!f.empty() && f.find_first_not_of("0123456789") == std::string::npos) return json(std::stoll(f));
  return json(f);
}

// ---- kernels ------------------------------------------------------------------------------------

std::string bindings_wgsl(const json& bindings, const json& uniforms, int uniform_binding) {
  std::string out;
  for (const json& b : bindings) {
    out += "@group(0) @binding(" + std::to_string(b["binding"].get<int>()) + ") var<storage, " +
           b["access"].get<std::string>() + "> " + b["name"].get<std::string>() + ": " + b["type"].get<std::string>() +
           ";  // " + b["shape"].get<std::string>() + "\n";
  }
  if (!uniforms.empty()) {
    out += "struct Params {\n";
    for (const json& f : uniforms) out += "  " + f[0].get<std::string>() + ": " + f[1].get<std::string>() + ",\n";
    out += "}\n@group(0) @binding(" + std::to_string(uniform_binding) + ") var<uniform> p: Params;";
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool flag_on(const json& values, const std::string& when, const std::string& origin) {
  const bool neg = !when.empty() && when[0] == '!';
  const std::string f = neg ? when.substr(1) : when;
  SLM_CHECK(values.contains(f) && values[f].is_boolean(),
            "[wgsl] " + origin + ": binding condition '" + when + "' needs a true/false value " + f);
  return values[f].get<bool>() != neg;
}

}  // namespace

std::string wgsl_literal(const json& v, const std::string& what) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    const float f = float(v.get<double>());
    SLM_CHECK(std::isfinite(f), "[wgsl] " + what + ": " + v.dump() + " is not a finite f32");
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, f);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
  }
  if (v.is_array()) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + wgsl_literal(v[i], what);
    return s;
  }
  throw Error("[wgsl] " + what + ": cannot print " + v.dump() + " as WGSL");
}

const std::string& wgsl_template_text(const std::string& file) {
  static const std::map<std::string, std::string> files = [] {
    std::map<std::string, std::string> m;
    for (size_t i = 0; i < detail::kWgslFileCount; ++i)
      m[detail::kWgslFiles[i].name] =
          std::string(reinterpret_cast<const char*>(detail::kWgslFiles[i].data), detail::kWgslFiles[i].size);
    return m;
  }();
  auto it = files.find(file);
  SLM_CHECK(it != files.end(), "[wgsl] no template '" + file + "' is embedded (codegen/wgsl/" + file +
                                   " missing when slm was built? re-run cmake)");
  return it->second;
}

std::vector<std::string> wgsl_template_files() {
  std::vector<std::string> v;
  for (size_t i = 0; i < detail::kWgslFileCount; ++i) v.push_back(detail::kWgslFiles[i].name);
  return v;
}

const json& wgsl_variants() {
  static const json j = json::parse(wgsl_template_text("variants.json"));
  return j;
}

std::string wgsl_fill(std::string_view text, const json& values, const std::string& origin,
                      const std::vector<std::string>& optional) {
  Filler f{values};
  std::string out = f.fill(text, origin);
  f.check_unused(origin, optional);
  return out;
}

int64_t wgsl_eval(const std::string& expr, const std::map<std::string, int64_t>& vars) {
  ExprParser p{expr, vars};
  int64_t v = p.expr();
  p.ws();
  if (p.i != expr.size()) p.fail("unexpected character");
  return v;
}

namespace {

// The template's storage bindings enabled by the spec's flags, as manifest entries (sizes filled and checked).
json kernel_bindings(const WgslKernelSpec& spec, const json& t, Filler& filler, const WgslLimits& limits,
                     const std::string& origin) {
  json bindings = json::array();
  int n = 0;
  for (const json& b : t["bindings"]) {
    if (b.contains("when") && !flag_on(filler.values, b["when"].get<std::string>(), origin)) continue;
    const std::string name = b["name"].get<std::string>();
    json e = {{"binding", n++}, {"name", name}, {"kind", "storage"}, {"access", b["access"]},
              {"type", filler.fill(b["type"].get<std::string>(), origin)}, {"shape", b["shape"]},
              {"bytes", expr_json(filler.fill(b["bytes"].get<std::string>(), origin))}};
    if (spec.params.count(name)) e["param"] = spec.params.at(name);
    if (e["bytes"].is_number())
      SLM_CHECK(e["bytes"].get<uint64_t>() <= limits.max_storage_buffer_binding_size,
                "[wgsl] kernel " + spec.name + ": binding '" + name + "' needs " + e["bytes"].dump() +
                    " bytes, above maxStorageBufferBindingSize " + std::to_string(limits.max_storage_buffer_binding_size) +
                    " — request a device with a larger limit");
    bindings.push_back(e);
  }
  for (auto& [name, _] : spec.params) {
    bool found = false;
    for (const json& b : bindings) found |= b["name"] == name;
    SLM_CHECK(found, "[wgsl] kernel " + spec.name + ": parameter for binding '" + name + "', which it does not have");
  }
  SLM_CHECK(bindings.size() <= limits.max_storage_buffers_per_shader_stage,
            "[wgsl] kernel " + spec.name + " uses " + std::to_string(bindings.size()) +
                " storage buffers, above maxStorageBuffersPerShaderStage " +
                std::to_string(limits.max_storage_buffers_per_shader_stage));
  return bindings;
}

// The uniform struct's manifest entry (null without fields): 4-byte fields, size rounded up to 16.
json kernel_uniform(const json& uniforms, int binding) {
  if (uniforms.empty()) return nullptr;
  json fields = json::array();
  for (size_t i = 0; i < uniforms.size(); ++i)
    fields.push_back({{"name", uniforms[i][0]}, {"type", uniforms[i][1]}, {"offset", 4 * i}});
  return {{"binding", binding}, {"bytes", (4 * uniforms.size() + 15) / 16 * 16}, {"fields", fields}};
}

}  // namespace

WgslKernel wgsl_emit_kernel(const WgslKernelSpec& spec, const WgslLimits& limits) {
  const json& table = wgsl_variants()["templates"];
  SLM_CHECK(table.contains(spec.tmpl), "[wgsl] kernel " + spec.name + ": no template '" + spec.tmpl + "' in variants.json");
  const json& t = table[spec.tmpl];
  const std::string file = t["file"].get<std::string>();
  const std::string origin = file + " (" + spec.name + ")";
  SLM_CHECK(spec.workgroup_size >= 1 && spec.workgroup_size <= limits.max_compute_invocations_per_workgroup &&
                spec.workgroup_size <= limits.max_compute_workgroup_size_x,
            "[wgsl] kernel " + spec.name + ": workgroup size " + std::to_string(spec.workgroup_size) +
                " exceeds the device limits");
  json values = spec.values;
  Filler filler{values};
  const json bindings = kernel_bindings(spec, t, filler, limits, origin);
  const json uniform = kernel_uniform(t["uniforms"], int(bindings.size()));
  values["BINDINGS"] = bindings_wgsl(bindings, t["uniforms"], int(bindings.size()));
  const std::string grid = fold(filler.fill(t["grid"].get<std::string>(), origin));
  std::string wgsl = filler.fill(wgsl_template_text(file), origin);
  // The scheme's common values are offered to every template; the others must each be used.
  filler.check_unused(origin, {"F16", "ST", "ST_BYTES", "ENABLE_F16"});

  json shown = json::object();
  for (auto& [k, v] : spec.values.items())
    if (k != "KERNEL" && k != "ENABLE_F16" && k != "ST" && k != "ST_BYTES" && !v.is_string()) shown[k] = v;
  WgslKernel k;
  k.name = spec.name;
  k.wgsl = std::move(wgsl);
  k.info = {{"name", spec.name}, {"file", spec.name + ".wgsl"}, {"template", file}, {"role", spec.role},
            {"entry_point", "main"}, {"workgroup_size", {spec.workgroup_size, 1, 1}},
            {"grid", expr_json(grid)}, {"bindings", bindings}, {"uniform", uniform}, {"values", shown}};
  if (!spec.feature.empty()) {
    k.info["requires"] = json::array({spec.feature});
    k.info["replaces"] = spec.replaces;
  }
  return k;
}

WgslKernelSet emit_wgsl_kernels(const ModelConfig& config, quant::Scheme scheme, const WgslOptions& options) {
  const WgslPlan plan = plan_wgsl_kernels(config, scheme, options);
  WgslKernelSet set;
  json kernels = json::array();
  for (const WgslKernelSpec& s : plan.kernels) {
    set.kernels.push_back(wgsl_emit_kernel(s, options.limits));
    kernels.push_back(set.kernels.back().info);
  }
  const WgslLimits& l = options.limits;
  set.manifest = {
      {"format", "slm-wgsl/1"},
      {"model_type", config.model_type},
      {"quantization", quant::scheme_info(scheme).name},
      {"features", plan.shader_f16 ? json::array({"shader-f16"}) : json::array()},
      {"limits",
       {{"maxComputeInvocationsPerWorkgroup", l.max_compute_invocations_per_workgroup},
        {"maxComputeWorkgroupSizeX", l.max_compute_workgroup_size_x},
        {"maxComputeWorkgroupStorageSize", l.max_compute_workgroup_storage_size},
        {"maxStorageBuffersPerShaderStage", l.max_storage_buffers_per_shader_stage},
        {"maxComputeWorkgroupsPerDimension", l.max_compute_workgroups_per_dimension},
        {"maxStorageBufferBindingSize", l.max_storage_buffer_binding_size}}},
      {"constants", plan.constants},
      {"runtime_variables",
       {{"T", "tokens in this forward (1 for decode)"},
        {"S", "KV-cache capacity in positions (per layer, k and v each)"},
        {"P", "rope-table rows (positions covered)"}}},
      {"dispatch",
       "grid is a linear workgroup count n: dispatchWorkgroups(min(n, maxComputeWorkgroupsPerDimension), "
       "ceil(n / maxComputeWorkgroupsPerDimension)); kernels skip the surplus workgroups"},
      {"layers", plan.layers},
      {"kernels", kernels},
      {"program", wgsl_program(config, plan)}};
  return set;
}

void write_wgsl_kernels(const std::string& dist_dir, const ModelConfig& config, quant::Scheme scheme,
                        const WgslOptions& options) {
  namespace fs = std::filesystem;
  const WgslKernelSet set = emit_wgsl_kernels(config, scheme, options);
  const fs::path final_dir = fs::path(dist_dir) / "kernels";
  const fs::path stage = fs::path(dist_dir) / ("kernels.tmp-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(stage, ec);
  fs::create_directories(stage, ec);
  SLM_CHECK(!ec, "[wgsl] cannot create " + stage.string() + ": " + ec.message());
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream f(stage / name, std::ios::binary);
    f << text;
    f.close();
    SLM_CHECK(f.good(), "[wgsl] cannot write " + (stage / name).string() + " — is the disk full?");
  };
  for (const WgslKernel& k : set.kernels) write(k.name + ".wgsl", k.wgsl);
  write("kernels.json", set.manifest.dump(2) + "\n");
  fs::remove_all(final_dir, ec);
  fs::rename(stage, final_dir, ec);
  SLM_CHECK(!ec, "[wgsl] cannot rename " + stage.string() + " to " + final_dir.string() + ": " + ec.message());
}

}  // namespace slm::codegen
