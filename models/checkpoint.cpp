// Checkpoint: a Hugging Face model directory's safetensors weights (see safetensors.h).
// Lookup order and index format follow transformers' from_pretrained (SAFE_WEIGHTS_NAME, then
// SAFE_WEIGHTS_INDEX_NAME with its weight_map); a lone *.safetensors file is accepted as well.
// Not a downloader and not a reader of .bin / GGUF checkpoints.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "models/safetensors.h"
#include "tensor/error.h"

namespace slm {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string u(uint64_t v) { return std::to_string(v); }
std::string q(std::string_view s) { return quote_name(s); }

[[noreturn]] void ckpt_fail(const std::string& where, const std::string& msg) {
  throw Error("[checkpoint] " + where + ": " + msg);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t(0));
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// A shard name must stay inside the model directory: relative, no "..", no NUL.
bool safe_shard_name(const std::string& s) {
  if (s.empty() || s.find('\0') != std::string::npos) return false;
  const fs::path p(s);
  if (p.is_absolute()) return false;
  for (const fs::path& part : p)
    if (part == "..") return false;
  return true;
}

std::string read_small_file(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ckpt_fail(path, std::string("cannot read (") + std::strerror(errno) + ")");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, size_t(in.gcount()));
    if (text.size() > limit) ckpt_fail(path, "is larger than " + u(limit) + " bytes — not a safetensors index");
  }
  return text;
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& model_dir) {
  Checkpoint c;
  std::error_code ec;
  const fs::path dir(model_dir);
  c.dir_ = model_dir;
  auto open_one = [&](const fs::path& file) {
    c.source_ = file.string();
    c.files_.push_back(SafetensorsFile::open(c.source_));
    for (const SafetensorsEntry& e : c.files_.back().entries()) c.where_[e.name] = 0;
  };
  if (fs::is_regular_file(dir, ec) && dir.extension() == ".safetensors") {
    c.dir_ = dir.has_parent_path() ? dir.parent_path().string() : ".";
    open_one(dir);
  } else if (!fs::is_directory(dir, ec)) {
    ckpt_fail(model_dir, std::string(fs::exists(dir, ec) ? "is neither a directory nor a .safetensors file"
                                                         : "no such directory") +
                             " — pass the model directory (the one with config.json)");
  } else if (fs::is_regular_file(dir / "model.safetensors", ec)) {
    open_one(dir / "model.safetensors");
  } else if (fs::is_regular_file(dir / "model.safetensors.index.json", ec)) {
    c.open_index((dir / "model.safetensors.index.json").string());
  } else {
    std::vector<std::string> found;
    for (const fs::directory_entry& de : fs::directory_iterator(dir, ec))
      if (de.path().extension() == ".safetensors" && de.is_regular_file(ec)) found.push_back(de.path().filename());
    std::sort(found.begin(), found.end());
    if (found.size() == 1) {
      open_one(dir / found[0]);
    } else if (found.empty()) {
      ckpt_fail(model_dir, "no model.safetensors or model.safetensors.index.json in " + model_dir +
                               " — download the weights, e.g. `hf download MODEL --local-dir " +
                               model_dir + "`");
    } else {
      std::string list;
      for (size_t i = 0; i < found.size() && i < 4; ++i) list += (i ? ", " : "") + found[i];
      ckpt_fail(model_dir, u(found.size()) + " .safetensors files (" + list + (found.size() > 4 ? ", ..." : "") +
                               ") but no model.safetensors.index.json saying which tensor is where — "
                               "download the index too");
    }
  }
  // The checkpoint dtype: the float dtype holding the most bytes (+1 per tensor so that a checkpoint
  // of empty tensors still has one).
  std::map<DType, uint64_t> bytes;
  for (const auto& [name, fi] : c.where_) {
    const SafetensorsEntry& e = *c.files_[fi].find(name);
    if (e.supported && e.dtype != DType::I32) bytes[e.dtype] += e.end - e.begin + 1;
  }
  uint64_t most = 0;
  for (const auto& [dt, n] : bytes)
    if (n > most) most = n, c.dtype_ = dt;
  return c;
}

void Checkpoint::open_index(const std::string& index_path) {
  source_ = index_path;
  const std::string text = read_small_file(index_path, 256u << 20);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    ckpt_fail(index_path, std::string("is not valid JSON (") + e.what() + ") — download it again");
  }
  if (!j.is_object()) ckpt_fail(index_path, std::string("is a JSON ") + j.type_name() + ", expected an object");
  auto wm = j.find("weight_map");
  if (wm == j.end()) ckpt_fail(index_path, "has no weight_map — it is not a safetensors index; download it again");
  if (!wm->is_object())
    ckpt_fail(index_path, std::string("weight_map is a JSON ") + wm->type_name() +
                              ", expected an object of tensor name -> shard file — download the index again");
  if (wm->empty()) ckpt_fail(index_path, "weight_map is empty: the index lists no tensors — download it again");
  const fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, size_t> shard_pos;
  for (const auto& [name, v] : wm->items()) {
    const std::string t = "tensor " + q(name);
    if (!v.is_string()) ckpt_fail(index_path, t + " maps to a JSON " + v.type_name() + ", expected a shard file name");
    const std::string shard = v.get<std::string>();
    if (!safe_shard_name(shard))
      ckpt_fail(index_path, t + " maps to shard " + q(shard) + ", which is not a file inside " + dir_ +
                                " — the index is corrupted");
    auto it = shard_pos.find(shard);
    if (it == shard_pos.end()) {
      std::error_code ec;
      if (!fs::is_regular_file(dir / shard, ec))
        ckpt_fail(index_path, t + " is in shard " + q(shard) + ", which is missing from " + dir_ +
                                  " — download it (every shard the index lists is needed)");
      it = shard_pos.emplace(shard, files_.size()).first;
      files_.push_back(SafetensorsFile::open((dir / shard).string()));
    }
    if (!files_[it->second].has(name))
      ckpt_fail(index_path, t + " is mapped to shard " + q(shard) + ", but that shard has no such tensor — the index "
                                "and the shards come from different revisions; download them again");
    where_[name] = it->second;
  }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

const SafetensorsEntry& Checkpoint::entry(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    std::string best;
    size_t best_d = SIZE_MAX;
    for (const auto& kv : where_) {
      const size_t gap = kv.first.size() > name.size() ? kv.first.size() - name.size() : name.size() - kv.first.size();
      if (gap >= best_d || gap > 16) continue;
      const size_t d = edit_distance(name, kv.first);
      if (d < best_d || (d == best_d && kv.first < best)) best_d = d, best = kv.first;
    }
    ckpt_fail(dir_, "no tensor " + q(name) + " among its " + u(where_.size()) + " tensors" +
                        (best.empty() ? "" : " (closest: " + q(best) + ")") +
                        " — check that the weights match config.json's model_type and that names are as in the HF "
                        "checkpoint");
  }
  return *files_[it->second].find(name);
}

Tensor Checkpoint::get(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  return files_[where_.at(name)].get(e);
}

}  // namespace slm
