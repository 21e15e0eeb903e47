// Helpers shared by the adapter and merge tests: fixture paths, tensor tables of the tiny fixture models,
// random tensors. Temp dirs and error checks come from tests/models/safetensors_test_util.h.
#pragma once
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "lora/adapter.h"
#include "models/config.h"
#include "tests/models/safetensors_test_util.h"

namespace slm::test {

inline std::string model_fixture(const std::string& name) { return std::string(SLM_FIXTURES) + "/models/" + name; }
inline std::string lora_fixture(const std::string& name) { return std::string(SLM_FIXTURES) + "/lora/" + name; }

// The base model of a PEFT fixture case (tests/fixtures/lora/<case>/base.txt).
inline std::string lora_fixture_base(const std::string& name) {
  std::ifstream f(lora_fixture(name) + "/base.txt");
  std::string base;
  f >> base;
  return model_fixture(base);
}

inline std::vector<TensorSpec> table_of(const std::string& model_dir) {
  return adapter_base_table(load_config(model_dir));
}

// Normal(0, sd) values from std::mt19937 (whose output is fixed by the standard) via a Box–Muller transform
// written here, so the numbers are the same on every platform.
inline Tensor random_tensor(const Shape& shape, uint32_t seed, float sd = 1.0f) {
  std::mt19937 g(seed);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double u1 = (double(g()) + 1.0) / 4294967297.0, u2 = double(g()) / 4294967296.0;
    p[i] = float(sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return t;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace slm::test
