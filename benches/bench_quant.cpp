// MLC int4 on the CPU and the export that writes it, at Qwen2.5-0.5B's shapes (docs/performance.md).
//   int4_gemv/<scheme>/<role>[/hot]: quant::int4_linear at batch 1 (decode), q4f16_1 and q4f32_1, stated as
//     GB/s of weights streamed (q_weight + q_scale bytes) and pct_bw = that over the streaming-read bandwidth
//     measured in this process right before and after the timed loop (same machine load). Cold by default:
//     it cycles through >= 1 GiB of weight copies, as decode does; /hot repeats one (cache-resident: the
//     kernel's compute ceiling).
//   export/<scheme>: what `slm export --no-verify` does (codegen/export_dir.h: shards, tensor-cache.json,
//     mlc-chat-config.json, sync to disk, rename) for a Qwen2.5-0.5B-shaped checkpoint of random bf16 weights
//     that the bench writes as a real HF directory (config.json + model.safetensors, no tokenizer) into a
//     temporary directory. Beside it, measured in the same iteration, the `cp`-like floor: read every input
//     byte from the page cache and write the export's byte count to a file in the same directory + fsync.
//     Counters: s, floor_s, x_floor (= s / floor_s, the goal is <= 2), in_MB/s, out_MB/s.
//   quantize/<scheme>/gate_up: quant::quantize of one bf16 4864x896 weight on one thread (the export's share).
//   export_verify/<scheme>/<f32|bf16>: the verification `slm export` runs by default, on the export written
//     above, in each compute mode: load the original + calibration scan (load_calib_s), reload + weight error +
//     compare + scan of the export (verify_s, codegen::verify_export); peak_GB = peak RSS above the bench's own
//     (includes the mmap'd checkpoint), plan_GB = what codegen::verify_memory_bytes budgets for it.
// The checkpoint lives in $SLM_BENCH_QUANT_DIR when set (kept, reused), else in a temporary directory that is
// removed at exit. Not a correctness test (tests/quant, tests/codegen own that).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "benches/bench_common.h"
#include "codegen/export_dir.h"
#include "codegen/export_load.h"
#include "codegen/export_verify.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "quant/group_quant.h"
#include "quant/int4_matmul.h"
#include "tensor/alloc.h"
#include "tensor/error.h"
#include "tensor/threading.h"

namespace {

using namespace slm;
using namespace slm::bench;
namespace fs = std::filesystem;
using quant::Scheme;

constexpr int64_t kColdBytes = int64_t(1) << 30;  // well past the 300 MiB L3 lscpu reports

// Qwen/Qwen2.5-0.5B-Instruct's config.json, as benches/bench_model.cpp.
const char* kQwen25_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
  "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
  "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
  "max_window_layers": 21, "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

const char* scheme_name(Scheme s) { return quant::scheme_info(s).name; }

// ---- int4 GEMV -------------------------------------------------------------------------------------------------
struct QShape {
  const char* role;
  int64_t N, K;
};
// Qwen2.5-0.5B: C=896, F=4864, V=151936.
const QShape kShapes[] = {
    {"q_o", 896, 896},         // q_proj and o_proj
    {"kv", 128, 896},          // k_proj, v_proj
    {"gate_up", 4864, 896},    // gate_proj, up_proj
    {"down", 896, 4864},       // down_proj
    {"lm_head", 151936, 896},  // the quantised tied embedding as the head
};

quant::QuantizedWeight copy_of(const quant::QuantizedWeight& q) {
  quant::QuantizedWeight c = q;
  c.q_weight = q.q_weight.clone();
  c.q_scale = q.q_scale.clone();
  return c;
}

void gemv_bench(benchmark::State& state, QShape sh, Scheme scheme, bool hot) {
  const quant::QuantizedWeight q0 = quant::quantize(random_tensor({sh.N, sh.K}, DType::BF16, 0.05f, 11), scheme);
  const int64_t wbytes = int64_t(q0.q_weight.nbytes() + q0.q_scale.nbytes());
  const int64_t copies = hot ? 1 : std::clamp<int64_t>((kColdBytes + wbytes - 1) / wbytes, 2, 8192);
  std::vector<quant::QuantizedWeight> ws;
  for (int64_t c = 0; c < copies; ++c) ws.push_back(c == 0 ? q0 : copy_of(q0));
  const Tensor x = random_tensor({1, sh.K}, DType::F32, 1.0f, 7);
  for (const auto& w : ws) benchmark::DoNotOptimize(quant::int4_linear(x, w).raw());  // page faults
  const double bw_before = hot ? 0 : measure_read_bandwidth(5);
  size_t i = 0;
  LoopClock clock;
  for (auto _ : state) {
    Tensor y = quant::int4_linear(x, ws[i]);
    benchmark::DoNotOptimize(y.raw());
    i = i + 1 == ws.size() ? 0 : i + 1;
  }
  const double sec = clock.seconds(), wrate = double(wbytes) * double(state.iterations()) / sec;
  state.counters["wGB/s"] = wrate / 1e9;
  if (!hot) {
    const double bw = (bw_before + measure_read_bandwidth(5)) / 2;
    state.counters["read_GB/s"] = bw / 1e9;
    state.counters["pct_bw"] = 100.0 * wrate / bw;
  }
  state.SetLabel("N=" + std::to_string(sh.N) + " K=" + std::to_string(sh.K) + " " + std::to_string(wbytes) +
                 " B/weight" + (hot ? " cache-resident" : " x" + std::to_string(copies)));
}

// ---- quantize on one thread (what the export pipeline runs) ------------------------------------------------------
void quantize_bench(benchmark::State& state, QShape sh, Scheme scheme) {
  const Tensor w = random_tensor({sh.N, sh.K}, DType::BF16, 0.05f, 12);
  quant::QuantizeOptions opt;
  opt.threads = 1;
  benchmark::DoNotOptimize(quant::quantize(w, scheme, opt).q_weight.raw());
  LoopClock clock;
  for (auto _ : state) benchmark::DoNotOptimize(quant::quantize(w, scheme, opt).q_weight.raw());
  const double sec = clock.seconds(), n = double(state.iterations());
  state.counters["Melem/s"] = double(w.numel()) * n / sec / 1e6;
  state.counters["inGB/s"] = double(w.nbytes()) * n / sec / 1e9;
  state.SetLabel("bf16 N=" + std::to_string(sh.N) + " K=" + std::to_string(sh.K) + ", 1 thread");
}

// ---- the checkpoint ----------------------------------------------------------------------------------------------
struct Checkpoint05B {
  std::string root;  // holds hf/ and the exports
  bool owned = false;
  std::string hf() const { return root + "/hf"; }
  std::string out(Scheme s) const { return root + "/out-" + scheme_name(s); }
  ~Checkpoint05B() {
    std::error_code ec;
    if (owned) fs::remove_all(root, ec);
  }
};

// Random bf16 weights for every tensor of the family's table (norms near 1, as trained checkpoints have).
void write_checkpoint(const std::string& dir) {
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << kQwen25_05B << "\n";
  const ModelConfig cfg = parse_config(kQwen25_05B, "bench_quant Qwen2.5-0.5B config");
  NamedTensors ts;
  uint64_t seed = 1;
  for (const TensorSpec& s : make_model(cfg, ComputeMode::F32, {})->tensor_table()) {
    Tensor t = random_tensor(s.shape, DType::BF16, s.role == TensorRole::Norm ? 0.1f : 0.03f, seed++);
    if (s.role == TensorRole::Norm)
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<uint16_t>()[i] = f32_to_bf16(1.0f + bf16_to_f32(t.data<uint16_t>()[i]));
    ts.push_back({s.name, t});
  }
  safetensors_write(dir + "/model.safetensors", ts);
}

Checkpoint05B& checkpoint() {
  static Checkpoint05B ck = [] {
    Checkpoint05B c;
    if (const char* d = std::getenv("SLM_BENCH_QUANT_DIR")) {
      c.root = d;
    } else {
      char tmpl[] = "/tmp/slm_bench_quant_XXXXXX";
      SLM_CHECK(::mkdtemp(tmpl), "[bench_quant] cannot create a temporary directory under /tmp");
      c.root = tmpl;
      c.owned = true;
    }
    if (!fs::exists(c.hf() + "/model.safetensors")) write_checkpoint(c.hf());
    return c;
  }();
  return ck;
}

// ---- the floor: read the input from the page cache, write + fsync the output's byte count -----------------------
uint64_t read_all(const std::string& path, std::vector<char>& buf) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  SLM_CHECK(fd >= 0, "[bench_quant] cannot open " + path);
  uint64_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += uint64_t(n);
  ::close(fd);
  return total;
}

double floor_seconds(const std::string& in_file, uint64_t out_bytes, const std::string& dir) {
  static std::vector<char> buf(size_t(8) << 20, 1);
  const double t0 = now_s();
  benchmark::DoNotOptimize(read_all(in_file, buf));
  const std::string path = dir + "/floor.bin";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  SLM_CHECK(fd >= 0, "[bench_quant] cannot create " + path);
  for (uint64_t left = out_bytes; left > 0;) {
    const ssize_t n = ::write(fd, buf.data(), size_t(std::min<uint64_t>(left, buf.size())));
    SLM_CHECK(n > 0, "[bench_quant] writing " + path + " failed");
    left -= uint64_t(n);
  }
  SLM_CHECK(::fsync(fd) == 0, "[bench_quant] fsync " + path + " failed");
  ::close(fd);
  const double t = now_s() - t0;
  fs::remove(path);
  return t;
}

// One `slm export --no-verify`: staging dir, shards + configs, sync, rename over the previous export.
codegen::ExportDirResult export_once(const Checkpoint05B& ck, const ModelConfig& cfg, Scheme scheme) {
  codegen::check_export_out_dir(ck.out(scheme));
  codegen::ExportStaging staging(ck.out(scheme));
  codegen::ExportOptions opt;
  opt.scheme = scheme;
  codegen::ExportDirResult r = codegen::write_export_dir(ck.hf(), cfg, opt, staging.path());
  staging.commit();
  return r;
}

void export_bench(benchmark::State& state, Scheme scheme) {
  const Checkpoint05B& ck = checkpoint();
  const ModelConfig cfg = load_config(ck.hf());
  const std::string in = ck.hf() + "/model.safetensors";
  const codegen::ExportDirResult warm = export_once(ck, cfg, scheme);  // page cache, allocator
  const uint64_t out_bytes = warm.weights.bytes_written;
  double export_s = 0, floor_s = 0;
  for (auto _ : state) {
    const double f = floor_seconds(in, out_bytes, ck.root);
    const double t0 = now_s();
    const codegen::ExportDirResult r = export_once(ck, cfg, scheme);
    const double t = now_s() - t0;
    state.SetIterationTime(t);
    export_s += t, floor_s += f;
    benchmark::DoNotOptimize(r.weights.bytes_written);
  }
  const double n = double(state.iterations());
  export_s /= n, floor_s /= n;
  const double in_bytes = double(fs::file_size(in));
  state.counters["s"] = export_s;
  state.counters["floor_s"] = floor_s;
  state.counters["x_floor"] = export_s / floor_s;
  state.counters["in_MB/s"] = in_bytes / export_s / 1e6;
  state.counters["out_MB/s"] = double(out_bytes) / export_s / 1e6;
  state.SetLabel(std::to_string(uint64_t(in_bytes) >> 20) + " MiB bf16 in, " + std::to_string(out_bytes >> 20) +
                 " MiB out, " + std::to_string(warm.weights.shards) + " shards");
}

// ---- verification of the export written by export/<scheme> ----------------------------------------------------
int64_t status_kb(const char* key) {  // VmRSS / VmHWM of this process
  std::ifstream f("/proc/self/status");
  std::string k;
  int64_t v = 0;
  while (f >> k) {
    if (k == key) return (f >> v) ? v : 0;
    f.ignore(1 << 16, '\n');
  }
  return 0;
}

void verify_bench(benchmark::State& state, Scheme scheme, ComputeMode mode) {
  const Checkpoint05B& ck = checkpoint();
  const ModelConfig cfg = load_config(ck.hf());
  if (!codegen::is_export_dir(ck.out(scheme))) export_once(ck, cfg, scheme);
  const auto prompts = codegen::verify_prompts(ck.hf(), cfg.vocab_size);
  int64_t longest = 0;
  for (const auto& p : prompts) longest = std::max<int64_t>(longest, int64_t(p.size()));
  tensor_cache_release();
  const int64_t rss0 = status_kb("VmRSS:");
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
  double load_s = 0, verify_s = 0;
  codegen::VerifyReport r;
  for (auto _ : state) {
    const double t0 = now_s();
    std::unique_ptr<Model> original = load_model(ck.hf(), mode);
    benchmark::DoNotOptimize(codegen::calibrate(*original, prompts, ck.hf()).max_abs);
    const double t1 = now_s();
    r = codegen::verify_export(ck.hf(), ck.out(scheme), *original, prompts);
    const double t2 = now_s();
    state.SetIterationTime(t2 - t0);
    load_s += t1 - t0, verify_s += t2 - t1;
    original.reset();
    tensor_cache_release();
  }
  const double n = double(state.iterations());
  state.counters["s"] = (load_s + verify_s) / n;
  state.counters["load_calib_s"] = load_s / n;
  state.counters["verify_s"] = verify_s / n;
  state.counters["peak_GB"] = double(status_kb("VmHWM:") - rss0) * 1024 / 1e9;
  state.counters["plan_GB"] = double(codegen::verify_memory_bytes(cfg, scheme, mode, longest)) / 1e9;
  state.counters["max_dlogit"] = r.compare.max_abs_logit_diff;
  state.counters["mean_KL"] = r.compare.mean_kl;
  state.SetLabel(std::string(mode == ComputeMode::F32 ? "f32" : "bf16") +
                 " compute; peak_GB: RSS above the bench's own, incl. the mmap'd checkpoint");
}

void register_all() {
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
    for (const QShape& sh : kShapes) {
      const std::string base = std::string("int4_gemv/") + scheme_name(s) + "/" + sh.role;
      benchmark::RegisterBenchmark(base.c_str(), gemv_bench, sh, s, false)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      if (std::string(sh.role) == "q_o" || std::string(sh.role) == "gate_up")
        benchmark::RegisterBenchmark((base + "/hot").c_str(), gemv_bench, sh, s, true)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
    }
  }
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1})
    benchmark::RegisterBenchmark((std::string("quantize/") + scheme_name(s) + "/gate_up").c_str(), quantize_bench,
                                 kShapes[2], s)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1})
    benchmark::RegisterBenchmark((std::string("export/") + scheme_name(s)).c_str(), export_bench, s)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1})
    for (ComputeMode m : {ComputeMode::F32, ComputeMode::BF16})
      benchmark::RegisterBenchmark((std::string("export_verify/") + scheme_name(s) +
                                    (m == ComputeMode::F32 ? "/f32" : "/bf16")).c_str(),
                                   verify_bench, s, m)
          ->UseManualTime()
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("read_GBps", std::to_string(read_bandwidth() / 1e9));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
