// Helpers shared by the safetensors and checkpoint tests: temp dirs, raw file bytes, error checks.
// Not a fixture generator: every file the tests need is built inline from these pieces.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace slm::test {

namespace fs = std::filesystem;

// A fresh directory under gtest's temp dir, unique to this process and `tag`.
inline std::string temp_dir(const std::string& tag) {
  const fs::path d = fs::path(testing::TempDir()) / ("slm_st_" + std::to_string(getpid()) + "_" + tag);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

inline std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file: length prefix, `header` padded with spaces to a multiple of 8 (as the
// reference writer does), then `data_bytes` zero bytes.
inline std::string raw_file(std::string header, size_t data_bytes) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + std::string(data_bytes, '\0');
}

inline std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

// Runs `f`, which must throw slm::Error whose message contains every string in `parts`.
// SLM_PRINT_ERRORS=1 prints each message, to review their wording.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (std::getenv("SLM_PRINT_ERRORS")) std::printf("%s\n", msg.c_str());
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks \"" << p << "\":\n  " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-slm exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw; expected an error mentioning \"" << (parts.empty() ? "" : parts[0]) << "\"";
}

}  // namespace slm::test
