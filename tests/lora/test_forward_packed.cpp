// The training forward (Model::forward_packed: autograd ops, no cache, packed segments) against the
// inference forward (Model::forward: KV cache) on every fixture family, and packing semantics: examples
// packed into one batch give exactly what each gives alone (no attention across segments, positions
// restarting per example).
#include <gtest/gtest.h>

#include <cmath>

#include "models/model.h"
#include "models/safetensors.h"

using namespace slm;

namespace {

const std::vector<std::string> kCases = {
    "llama", "llama3_scaled", "llama_linear", "llama_dynamic", "llama_yarn", "qwen2", "qwen2_swa",
    "qwen3", "phi3",          "phi3_longrope", "gemma",        "gemma2",     "gemma3_text"};

std::string case_dir(const std::string& c) { return std::string(SLM_FIXTURES) + "/models/" + c; }

std::vector<int32_t> ids_of(const std::string& c) {
  Tensor t = SafetensorsFile::open(case_dir(c) + "/reference.safetensors").get("input_ids").contiguous();
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

std::vector<int32_t> iota(size_t n) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = int32_t(i);
  return v;
}

double max_rel(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_f32_vector(), y = b.to_f32_vector();
  EXPECT_EQ(x.size(), y.size());
  double d = 0, m = 1e-12;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(double(x[i]) - double(y[i])));
    m = std::max(m, std::abs(double(y[i])));
  }
  return d / m;
}

class ForwardPacked : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardPacked, MatchesTheCachedInferenceForward) {
  std::unique_ptr<Model> m = load_model(case_dir(GetParam()));
  std::vector<int32_t> ids = ids_of(GetParam());
  KVCache cache = m->make_cache(int64_t(ids.size()));
  Tensor ref = m->forward(ids, cache);
  Tensor got = m->forward_packed(ids, iota(ids.size()), std::vector<int32_t>(ids.size(), 0)).value();
  EXPECT_LE(max_rel(got, ref), 2e-6) << GetParam();
}

TEST_P(ForwardPacked, PackedExamplesDoNotSeeEachOther) {
  std::unique_ptr<Model> m = load_model(case_dir(GetParam()));
  std::vector<int32_t> all = ids_of(GetParam());
  const size_t na = 9, nb = std::min<size_t>(all.size() - na, 11);
  std::vector<int32_t> a(all.begin(), all.begin() + long(na)), b(all.begin() + long(na), all.begin() + long(na + nb));
  std::vector<int32_t> ids = a, pos = iota(na), seg(na, 0);
  ids.insert(ids.end(), b.begin(), b.end());
  for (size_t i = 0; i < nb; ++i) pos.push_back(int32_t(i)), seg.push_back(1);
  Tensor packed = m->forward_packed(ids, pos, seg).value();
  Tensor alone_a = m->forward_packed(a, iota(na), std::vector<int32_t>(na, 0)).value();
  Tensor alone_b = m->forward_packed(b, iota(nb), std::vector<int32_t>(nb, 0)).value();
  EXPECT_LE(max_rel(packed.narrow(0, 0, int64_t(na)), alone_a), 2e-6) << GetParam();
  EXPECT_LE(max_rel(packed.narrow(0, int64_t(na), int64_t(nb)), alone_b), 2e-6) << GetParam();
}

TEST_P(ForwardPacked, HeadRowsAreThoseRowsOfTheLogits) {
  std::unique_ptr<Model> m = load_model(case_dir(GetParam()));
  std::vector<int32_t> ids = ids_of(GetParam());
  const std::vector<int32_t> pos = iota(ids.size()), seg(ids.size(), 0);
  Tensor all = m->forward_packed(ids, pos, seg).value();
  const std::vector<int32_t> rows = {int32_t(ids.size()) - 1, 2, 3, 0};  // any order
  Tensor some = m->forward_packed(ids, pos, seg, false, Tensor::from_i32(rows, {4})).value();
  ASSERT_EQ(some.shape(), (Shape{4, all.size(1)}));
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_LE(max_rel(some.narrow(0, int64_t(i), 1), all.narrow(0, rows[i], 1)), 2e-6) << GetParam() << " row " << i;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardPacked, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param; });

}  // namespace
