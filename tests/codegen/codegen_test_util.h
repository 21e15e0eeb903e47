// Helpers for the codegen tests: fixture paths, temp dirs, a minimal mlc-chat-config.json.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "models/config.h"
#include "tensor/error.h"

namespace slm::testing_codegen {

inline std::string fixture(const std::string& c) { return std::string(SLM_FIXTURES) + "/models/" + c; }

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline ModelConfig fixture_config(const std::string& c) { return load_config(fixture(c)); }

// A fresh, empty directory under the test temp dir.
inline std::string fresh_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "/slm_codegen_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// What the tests need of mlc-chat-config.json to read an export back (codegen/chat_config writes the full one).
inline void write_min_chat_config(const std::string& dir, const std::string& hf_dir, const std::string& quant) {
  nlohmann::json cfg = nlohmann::json::parse(read_text(hf_dir + "/config.json"));
  nlohmann::json j = {{"model_type", cfg["model_type"]}, {"quantization", quant}, {"model_config", cfg}};
  write_text(dir + "/mlc-chat-config.json", j.dump(4));
}

}  // namespace slm::testing_codegen
