// slm tokenize MODEL_OR_TOKENIZER_DIR (--file F | --text "…" | --decode "1 2 3") [--no-special]
// Ids exactly as HF tokenizers' Tokenizer.from_file("tokenizer.json").encode(text).ids: one output line
// of space-separated ids per input line (the line without its '\n'); --decode prints text.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/verbs.h"
#include "models/tokenizer/tokenizer.h"
#include "tensor/error.h"

namespace slm::cli {

static void print_ids(const std::vector<int32_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

static int run_tokenize(const Args& a) {
  const int modes = int(a.has("--file")) + int(a.has("--text")) + int(a.has("--decode"));
  if (modes != 1) throw UsageError{"give exactly one of --file, --text, --decode"};
  Tokenizer tok = Tokenizer::load(a.positional[0]);
  const bool special = !a.flag("--no-special");
  if (a.has("--decode")) {
    std::vector<int32_t> ids;
    std::stringstream ss(a.str("--decode"));
    std::string item;
    while (ss >> item) {
      for (char& c : item)
        if (c == ',') c = ' ';
      std::stringstream parts(item);
      long long v;
      while (parts >> v) ids.push_back(int32_t(v));
      if (!parts.eof()) throw UsageError{"--decode expects ids separated by spaces, got '" + item + "'"};
    }
    std::string text = tok.decode(ids, a.flag("--skip-special"));
    std::printf("%s\n", text.c_str());
    return 0;
  }
  if (a.has("--text")) {
    print_ids(tok.encode(a.str("--text"), special));
    return 0;
  }
  std::ifstream f(a.str("--file"), std::ios::binary);
  if (!f) throw Error("[tokenize] cannot open " + a.str("--file"));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) lines.push_back(line);  // splits on '\n' only; '\r' stays in the text
  const size_t kChunk = 4096;  // bounded memory for large files, both cores within a chunk
  for (size_t i = 0; i < lines.size(); i += kChunk) {
    std::vector<std::string> chunk(lines.begin() + long(i), lines.begin() + long(std::min(lines.size(), i + kChunk)));
    for (const auto& ids : tok.encode_batch(chunk, special)) print_ids(ids);
  }
  return 0;
}

Verb make_tokenize_verb() {
  return {"tokenize",
          "MODEL_OR_TOKENIZER_DIR (--file F | --text \"...\" | --decode \"1 2 3\") [--no-special]",
          "Encode text to token ids (one line of ids per input line) or decode ids to text.",
          {"MODEL_OR_TOKENIZER_DIR"},
          {{"--file", "F", "encode each line of F (without its newline)", ""},
           {"--text", "TEXT", "encode one string", ""},
           {"--decode", "IDS", "decode space-separated ids to text", ""},
           {"--no-special", "", "do not add the post-processor's special tokens (add_special_tokens=False)", ""},
           {"--skip-special", "", "with --decode: drop special tokens from the text", ""}},
          run_tokenize};
}

}  // namespace slm::cli
