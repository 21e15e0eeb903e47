// LoRA adapter init, save and load in PEFT's format (see adapter.h).
// Reference: peft tuners/lora/layer.py (update_layer, reset_lora_parameters), utils/save_and_load.py
// (get_peft_model_state_dict drops the adapter name; set_peft_model_state_dict re-inserts it) and
// tuners_utils.py (cast_adapter_dtype: F16/BF16 adapter weights are upcast to f32).
#include "lora/adapter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "models/model.h"
#include "models/safetensors.h"
#include "tensor/error.h"

namespace slm {
namespace {

namespace fs = std::filesystem;

const char* const kPrefix = "base_model.model.";
const char* const kWeightsFile = "adapter_model.safetensors";
const char* const kConfigFile = "adapter_config.json";

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// xoshiro256** (Blackman & Vigna), seeded from SplitMix64 as its authors recommend.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform01() { return double(next() >> 40) * 0x1p-24; }  // 24 bits, as many as a float holds

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// torch.nn.init.kaiming_uniform_(w, a=sqrt(5)) bound, computed as torch computes it (in double).
double kaiming_bound(int64_t fan_in) {
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1 + a * a));  // calculate_gain("leaky_relu", a)
  const double std_ = gain / std::sqrt(double(fan_in));
  return std::sqrt(3.0) * std_;
}

const TensorSpec* find_linear(const std::vector<TensorSpec>& table, const std::string& module) {
  const std::string name = module + ".weight";
  for (const auto& s : table)
    if (s.name == name && s.role == TensorRole::Linear) return &s;
  return nullptr;
}

void write_text_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("[lora] cannot create " + path + " (" + std::strerror(errno) + ")");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw Error("[lora] writing " + path + " failed (" + std::strerror(errno) + ") — is the disk full?");
    }
    done += size_t(n);
  }
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Error("[lora] fsync of " + path + " failed (" + std::strerror(errno) + ")");
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void check_module_tensors(const std::string& module, const LoraModule& m) {
  SLM_CHECK(
      m.A.defined() && m.B.defined() && m.A.dtype() == DType::F32 && m.B.dtype() == DType::F32 && m.A.dim() == 2 &&
          m.B.dim() == 2 && m.A.size(0) == m.r && m.B.size(1) == m.r,
      "[lora] adapter_save: module '" + module + "' needs f32 A (r, K) and B (N, r) with r = " + std::to_string(m.r));
}

}  // namespace

std::string adapter_key(const std::string& module, char which) {
  SLM_CHECK(which == 'A' || which == 'B', "[lora] adapter_key: which must be 'A' or 'B'");
  return std::string(kPrefix) + module + ".lora_" + which + ".weight";
}

std::vector<TensorSpec> adapter_base_table(const ModelConfig& config) {
  return make_model(config, ComputeMode::F32, {})->tensor_table();
}

LoraAdapter adapter_init(const LoraConfig& config, const std::vector<TensorSpec>& table, uint64_t seed,
                         DType base_dtype) {
  if (config.init_lora_weights != "true")
    throw Error("[lora] init_lora_weights '" + config.init_lora_weights + "' is not implemented for new adapters; " +
                "slm initialises as PEFT's default (true: A Kaiming-uniform, B zero)");
  LoraAdapter a;
  a.config = config;
  for (const std::string& module : lora_resolve_targets(config, table, /*strict=*/true)) {
    const TensorSpec& spec = *find_linear(table, module);
    const int64_t N = spec.shape[0], K = spec.shape[1];
    LoraModule m;
    m.r = lora_rank_for(config, module);
    m.alpha = lora_alpha_for(config, module);
    m.scaling = lora_scaling(config, m.r, m.alpha);
    m.A = Tensor::empty({m.r, K});  // (r, K)
    m.B = Tensor::zeros({N, m.r});  // (N, r)
    Xoshiro256 rng(seed ^ (fnv1a64(module) * 0x9E3779B97F4A7C15ull));
    const double b = kaiming_bound(K);
    float* pa = m.A.data<float>();
    for (int64_t i = 0; i < m.r * K; ++i) pa[i] = float(-b + rng.uniform01() * (2 * b));
    if (base_dtype == DType::BF16 || base_dtype == DType::F16) m.A = m.A.to(base_dtype).to(DType::F32);
    a.modules.emplace(module, std::move(m));
  }
  return a;
}

void adapter_save(const LoraAdapter& adapter, const std::string& dir) {
  SLM_CHECK(!adapter.modules.empty(), "[lora] adapter_save: the adapter has no modules");
  NamedTensors tensors;
  LoraConfig cfg = adapter.config;
  if (cfg.target_modules.all_linear) {  // PEFT saves the resolved names, never "all-linear"
    cfg.target_modules = LoraTargets{};
    for (const auto& [module, m] : adapter.modules) cfg.target_modules.names.push_back(module);
  }
  for (const auto& [module, m] : adapter.modules) {
    check_module_tensors(module, m);
    tensors.push_back({adapter_key(module, 'A'), m.A});
    tensors.push_back({adapter_key(module, 'B'), m.B});
  }
  fs::path target = fs::path(dir).lexically_normal();
  if (target.has_parent_path() && target.filename().empty()) target = target.parent_path();  // "dir/" -> "dir"
  SLM_CHECK(!target.empty() && !target.filename().empty() && target.filename() != "..",
            "[lora] adapter_save: '" + dir + "' must name a directory");
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const std::string pid = std::to_string(getpid());
  const fs::path tmp = parent / (target.filename().string() + ".tmp-" + pid);
  const fs::path old = parent / (target.filename().string() + ".old-" + pid);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    safetensors_write((tmp / kWeightsFile).string(), tensors, {{"format", "pt"}});
    write_text_file((tmp / kConfigFile).string(), lora_config_json(cfg));
    fsync_dir(tmp.string());
    std::error_code ec;
    const bool existed = fs::exists(target, ec);
    if (existed) fs::rename(target, old);
    fs::rename(tmp, target);
    fsync_dir(parent.string());
    if (existed) fs::remove_all(old, ec);
  } catch (const fs::filesystem_error& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw Error("[lora] saving the adapter to " + dir + " failed: " + e.what());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

namespace {

struct ParsedKey {
  std::string module;
  char which = 0;            // 'A' | 'B'
  std::string adapter_name;  // "" when absent (PEFT's saved form)
};

// `[base_model.model.]<module>.lora_{A,B}[.<adapter name>].weight`; other keys are errors naming them.
ParsedKey parse_key(const std::string& key, const std::string& file) {
  auto fail = [&](const std::string& why) -> ParsedKey {
    throw Error("[lora] " + file + ": tensor '" + key + "' " + why);
  };
  std::string k = key.rfind(kPrefix, 0) == 0 ? key.substr(std::strlen(kPrefix)) : key;
  if (k.find("lora_magnitude_vector") != std::string::npos)
    return fail("is a DoRA magnitude vector: DoRA adapters are not supported");
  if (k.find("lora_embedding_") != std::string::npos)
    return fail("is an embedding LoRA weight: slm adapts linear layers only");
  size_t pos = std::string::npos;
  char which = 0;
  for (char w : {'A', 'B'}) {
    const size_t p = k.rfind(std::string(".lora_") + w + ".");
    if (p != std::string::npos && (pos == std::string::npos || p > pos)) pos = p, which = w;
  }
  if (pos == std::string::npos || pos == 0)
    return fail(
        "is not a LoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight); "
        "modules_to_save and bias tensors are not supported");
  ParsedKey out{k.substr(0, pos), which, ""};
  const std::string rest = k.substr(pos + 8);  // after ".lora_X."
  if (rest == "weight") return out;
  const size_t dot = rest.find('.');
  if (dot != std::string::npos && rest.substr(dot) == ".weight" && dot > 0) {
    out.adapter_name = rest.substr(0, dot);
    return out;
  }
  if (rest == "bias") return fail("is a LoRA B bias (lora_bias): not supported");
  return fail("has an unexpected suffix '" + rest + "' after lora_" + std::string(1, which));
}

std::string shape_of(const Tensor& t) { return shape_str(t.shape()); }

std::string made_for(const LoraConfig& c) {
  return c.base_model_name_or_path.empty() ? "" : " (adapter_config.json: '" + c.base_model_name_or_path + "')";
}

void validate_module(const std::string& module, const LoraModule& m, const TensorSpec& spec, const std::string& file,
                     const LoraConfig& c) {
  const int64_t N = spec.shape[0], K = spec.shape[1];
  const std::string a_key = adapter_key(module, 'A'), b_key = adapter_key(module, 'B');
  if (!m.A.defined() || !m.B.defined())
    throw Error("[lora] " + file + ": module '" + module + "' has only " + (m.A.defined() ? "lora_A" : "lora_B") +
                " — the file is incomplete; save the adapter again");
  if (m.A.dim() != 2 || m.A.size(1) != K)
    throw Error("[lora] " + file + ": '" + a_key + "' has shape " + shape_of(m.A) + " but the base weight '" +
                spec.name + "' is " + shape_str(spec.shape) + ", so lora_A must be [r, " + std::to_string(K) +
                "] — this adapter was trained on a different base model" + made_for(c));
  if (m.B.dim() != 2 || m.B.size(0) != N || m.B.size(1) != m.A.size(0))
    throw Error("[lora] " + file + ": '" + b_key + "' has shape " + shape_of(m.B) + " but must be [" +
                std::to_string(N) + ", " + std::to_string(m.A.size(0)) + "] for base weight '" + spec.name + "' " +
                shape_str(spec.shape) + " and lora_A " + shape_of(m.A) +
                " — this adapter was trained on a different base model" + made_for(c));
  if (m.A.size(0) != m.r)
    throw Error("[lora] " + file + ": '" + a_key + "' has rank " + std::to_string(m.A.size(0)) +
                " but adapter_config.json gives this module r = " + std::to_string(m.r) +
                " (r / rank_pattern) — config and weights do not match");
}

}  // namespace

LoraAdapter adapter_load(const std::string& dir, const std::vector<TensorSpec>& table) {
  LoraAdapter a;
  a.config = lora_config_load(dir);
  const std::string file = dir + "/" + kWeightsFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    const bool bin = fs::exists(dir + "/adapter_model.bin", ec);
    throw Error("[lora] " + file + " does not exist" +
                (bin ? " (the adapter is in PEFT's legacy adapter_model.bin; save it again with "
                       "safe_serialization=True)"
                     : " — ADAPTER_DIR must hold adapter_model.safetensors"));
  }
  const SafetensorsFile st = SafetensorsFile::open(file);
  std::string adapter_name;
  bool first = true;
  for (const SafetensorsEntry& e : st.entries()) {
    const ParsedKey k = parse_key(e.name, file);
    if (!first && k.adapter_name != adapter_name)
      throw Error("[lora] " + file + ": tensor '" + e.name + "' belongs to adapter '" + k.adapter_name +
                  "' but others to " + (adapter_name.empty() ? "none (PEFT's saved form)" : "'" + adapter_name + "'") +
                  " — one adapter per directory");
    adapter_name = k.adapter_name;
    first = false;
    const TensorSpec* spec = find_linear(table, k.module);
    if (!spec)
      throw Error("[lora] " + file + ": tensor '" + e.name + "' adapts '" + k.module +
                  "', which is not a linear layer of this base model — the adapter was made for another model" +
                  made_for(a.config));
    if (!e.supported || e.dtype == DType::I32)
      throw Error("[lora] " + file + ": tensor '" + e.name + "' has dtype " + e.dtype_name + "; expected F32/BF16/F16");
    LoraModule& m = a.modules[k.module];
    m.r = lora_rank_for(a.config, k.module);
    m.alpha = lora_alpha_for(a.config, k.module);
    m.scaling = lora_scaling(a.config, m.r, m.alpha);
    Tensor t = st.get(e).to(DType::F32);  // an owned copy: trainers update adapters in place
    (k.which == 'A' ? m.A : m.B) = t;
  }
  if (a.modules.empty()) throw Error("[lora] " + file + " holds no LoRA weights");
  for (const auto& [module, m] : a.modules) validate_module(module, m, *find_linear(table, module), file, a.config);
  const std::vector<std::string> targeted = lora_resolve_targets(a.config, table, /*strict=*/false);
  for (const auto& module : targeted)
    if (!a.modules.count(module))
      throw Error("[lora] " + file + ": adapter_config.json targets '" + module + "' but the file has no '" +
                  adapter_key(module, 'A') + "' — config and weights do not match");
  const std::set<std::string> want(targeted.begin(), targeted.end());
  for (const auto& [module, m] : a.modules)
    if (!want.count(module))
      throw Error("[lora] " + file + ": tensor '" + adapter_key(module, 'A') + "' adapts '" + module +
                  "', which adapter_config.json's target_modules does not select — config and weights do not match");
  return a;
}

}  // namespace slm
