// adapter_merge: base checkpoint + PEFT LoRA adapter → merged HF checkpoint directory (see merge.h).
// Reference: peft tuners/lora/layer.py (Linear.merge, get_delta_weight), tuners_utils.py
// (_unload_and_optionally_merge: merge_and_unload uses safe_merge=False), transformers save_pretrained
// (file layout; here the base's own files and shard names are kept instead of re-sharding).
#include "lora/merge.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "models/config.h"
#include "models/safetensors.h"
#include "tensor/error.h"

namespace slm {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void merge_fail(const std::string& msg) { throw Error("[merge] " + msg); }

// f32 result of `w + d` rounded to the weight's dtype, as torch's in-place add of an f32 delta.
template <DType D>
void add_row(const void* w, const float* d, void* out, int64_t K) {
  if constexpr (D == DType::F32) {
    const float* src = static_cast<const float*>(w);
    float* dst = static_cast<float*>(out);
    for (int64_t k = 0; k < K; ++k) dst[k] = src[k] + d[k];
  } else {
    const uint16_t* src = static_cast<const uint16_t*>(w);
    uint16_t* dst = static_cast<uint16_t*>(out);
    for (int64_t k = 0; k < K; ++k) {
      if constexpr (D == DType::BF16)
        dst[k] = f32_to_bf16(bf16_to_f32(src[k]) + d[k]);
      else
        dst[k] = f32_to_f16(f16_to_f32(src[k]) + d[k]);
    }
  }
}

void fsync_path(const std::string& path, bool dir) {
  const int fd = ::open(path.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Top-level files of the base that are not copied: weights (written separately or stale in another format)
// and adapter files.
bool skip_file(const std::string& name) {
  static const char* const kWeightExt[] = {".safetensors",   ".bin", ".pt",      ".pth",  ".ckpt",
                                           ".gguf",          ".h5",  ".msgpack", ".onnx", ".safetensors.index.json",
                                           ".bin.index.json"};
  for (const char* e : kWeightExt)
    if (ends_with(name, e)) return true;
  return name == "adapter_config.json" || name.rfind("adapter_model.", 0) == 0;
}

// The output directory must be new (or an empty directory) and not one of the inputs.
void check_out_dir(const fs::path& out, const std::string& model_dir, const std::string& adapter_dir) {
  std::error_code ec;
  for (const std::string& in : {model_dir, adapter_dir})
    if (fs::exists(out, ec) && fs::equivalent(out, in, ec))
      merge_fail("--out " + out.string() + " is the same directory as the input " + in + "; choose a new directory");
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec) || !fs::is_empty(out, ec))
    merge_fail("--out " + out.string() +
               " already exists and is not an empty directory — remove it or choose "
               "another path (merge never overwrites)");
}

struct Job {
  const LoraAdapter* adapter;
  std::map<std::string, std::string> module_of;  // weight name -> module prefix
};

void write_weights(const Checkpoint& ck, const Job& job, const fs::path& tmp, MergeSummary& s) {
  for (const SafetensorsFile& f : ck.files()) {
    NamedTensors tensors;
    for (const SafetensorsEntry& e : f.entries()) {
      if (!e.supported)
        merge_fail(f.name() + ": tensor '" + e.name + "' has dtype " + e.dtype_name +
                   ", which slm cannot carry over — the merged checkpoint would be incomplete");
      Tensor t = f.get(e);
      auto it = job.module_of.find(e.name);
      if (it != job.module_of.end()) {
        t = adapter_merge_weight(t, *job.adapter->find(it->second), &s.max_abs_delta);
        ++s.modules_merged;
      }
      tensors.push_back({e.name, t});
    }
    const std::string name = fs::path(f.name()).filename().string();
    safetensors_write((tmp / name).string(), tensors, f.metadata());
    s.tensors_written += int64_t(tensors.size());
    s.weight_files.push_back(name);
  }
}

void copy_other_files(const Checkpoint& ck, const std::string& model_dir, const fs::path& tmp, MergeSummary& s) {
  if (ends_with(ck.source(), ".index.json")) {  // shards keep their names, so the index is still exact
    const std::string name = fs::path(ck.source()).filename().string();
    fs::copy_file(ck.source(), tmp / name);
    fsync_path((tmp / name).string(), false);
    s.copied_files.push_back(name);
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(model_dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && !skip_file(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    fs::copy_file(fs::path(model_dir) / name, tmp / name);
    fsync_path((tmp / name).string(), false);
    s.copied_files.push_back(name);
  }
}

Job plan(const LoraAdapter& adapter, const Checkpoint& ck, const std::vector<TensorSpec>& table) {
  Job job{&adapter, {}};
  for (const auto& [module, m] : adapter.modules) {
    const std::string name = module + ".weight";
    if (!ck.has(name))
      merge_fail(ck.dir() + ": the adapter adapts '" + module + "' but the checkpoint has no '" + name +
                 "' — the weights do not match config.json");
    const SafetensorsEntry& e = ck.entry(name);
    const auto spec = std::find_if(table.begin(), table.end(), [&](const TensorSpec& t) { return t.name == name; });
    if (e.shape != spec->shape)
      merge_fail(ck.dir() + ": tensor '" + name + "' has shape " + shape_str(e.shape) + " but config.json implies " +
                 shape_str(spec->shape));
    if (!e.supported || e.dtype == DType::I32)
      merge_fail(ck.dir() + ": tensor '" + name + "' has dtype " + e.dtype_name + "; merge needs F32, BF16 or F16");
    job.module_of[name] = module;
  }
  return job;
}

}  // namespace

Tensor adapter_merge_weight(const Tensor& w, const LoraModule& m, float* max_abs_delta) {
  SLM_CHECK(w.dim() == 2 && (w.dtype() == DType::F32 || w.dtype() == DType::BF16 || w.dtype() == DType::F16),
            "[merge] the base weight must be a 2-D F32/BF16/F16 tensor, got " + shape_str(w.shape()));
  const int64_t N = w.size(0), K = w.size(1), r = m.r;
  check_tensor(m.A, DType::F32, {r, K}, "lora_A");
  check_tensor(m.B, DType::F32, {N, r}, "lora_B");
  const Tensor wc = w.contiguous(), A = m.A.contiguous(), B = m.B.contiguous();
  Tensor out = Tensor::empty({N, K}, w.dtype());
  const float scale = float(m.scaling);  // torch multiplies an f32 tensor by the Python float as f32
  const float* pa = A.data<float>();
  const float* pb = B.data<float>();
  const size_t esize = dtype_size(w.dtype());
  const auto* src = static_cast<const uint8_t*>(wc.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  const DType dt = w.dtype();
  float max_d = 0;
#pragma omp parallel reduction(max : max_d)
  {
    std::vector<float> acc(static_cast<size_t>(K));  // one row of delta = (B @ A)[n, :] * scale
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < r; ++j) {  // sequential over r, one rounding per FMA, as a GEMM micro-kernel
        const float b = pb[n * r + j];
        const float* a = pa + j * K;
        for (int64_t k = 0; k < K; ++k) acc[size_t(k)] = std::fma(b, a[k], acc[size_t(k)]);
      }
      for (int64_t k = 0; k < K; ++k) {
        acc[size_t(k)] *= scale;
        max_d = std::max(max_d, std::fabs(acc[size_t(k)]));
      }
      const void* wrow = src + size_t(n * K) * esize;
      void* orow = dst + size_t(n * K) * esize;
      if (dt == DType::F32)
        add_row<DType::F32>(wrow, acc.data(), orow, K);
      else if (dt == DType::BF16)
        add_row<DType::BF16>(wrow, acc.data(), orow, K);
      else
        add_row<DType::F16>(wrow, acc.data(), orow, K);
    }
  }
  if (max_abs_delta) *max_abs_delta = std::max(*max_abs_delta, max_d);
  return out;
}

MergeSummary adapter_merge(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir) {
  fs::path out = fs::path(out_dir).lexically_normal();
  if (out.has_parent_path() && out.filename().empty()) out = out.parent_path();  // "out/" -> "out"
  if (out.empty() || out.filename().empty() || out.filename() == "..")
    merge_fail("--out '" + out_dir + "' must name a new directory");
  check_out_dir(out, model_dir, adapter_dir);
  const ModelConfig config = load_config(model_dir);
  const std::vector<TensorSpec> table = adapter_base_table(config);
  const LoraAdapter adapter = adapter_load(adapter_dir, table);
  const Checkpoint ck = Checkpoint::open(model_dir);
  const Job job = plan(adapter, ck, table);

  MergeSummary s;
  s.dtype = ck.dtype();
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const fs::path tmp = parent / (out.filename().string() + ".tmp-" + std::to_string(getpid()));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  try {
    write_weights(ck, job, tmp, s);
    if (s.modules_merged != int64_t(adapter.modules.size()))
      merge_fail(ck.dir() + ": merged " + std::to_string(s.modules_merged) + " of " +
                 std::to_string(adapter.modules.size()) +
                 " adapted weights — a tensor is listed in the index but "
                 "missing from its shard");
    copy_other_files(ck, model_dir, tmp, s);
    fsync_path(tmp.string(), true);
    fs::rename(tmp, out);
    fsync_path(parent.string(), true);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    merge_fail(std::string("writing ") + out.string() + " failed: " + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return s;
}

}  // namespace slm
