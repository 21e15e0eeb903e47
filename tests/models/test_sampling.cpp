// Logit processors vs transformers' (fixture: tools/ref/make_sampling_fixtures.py), and sampling sanity.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "models/safetensors.h"
#include "models/sampling.h"
#include "tensor/error.h"

using namespace slm;

namespace {

std::vector<int32_t> ints(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel());
}

TEST(Sampling, ProcessorsMatchTransformers) {
  SafetensorsFile f = SafetensorsFile::open(std::string(SLM_FIXTURES) + "/sampling/sampling.safetensors");
  auto params = nlohmann::json::parse(f.metadata().at("params"));
  ASSERT_EQ(params.size(), 10u);
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string c = "case" + std::to_string(i);
    SamplingParams p;
    p.temperature = params[i]["temperature"].get<float>();
    p.top_k = params[i]["top_k"].get<int64_t>();
    p.top_p = params[i]["top_p"].get<float>();
    p.repetition_penalty = params[i]["repetition_penalty"].get<float>();
    std::vector<float> got = process_logits(f.get(c + ".logits").to_f32_vector(), ints(f.get(c + ".context")), p);
    std::vector<float> want = f.get(c + ".expected").to_f32_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t v = 0; v < got.size(); ++v) {
      if (std::isinf(want[v])) {
        EXPECT_TRUE(std::isinf(got[v]) && got[v] < 0) << c << " token " << v << " should be removed";
      } else {
        EXPECT_NEAR(got[v], want[v], 1e-5f * std::max(1.0f, std::abs(want[v]))) << c << " token " << v;
      }
    }
  }
}

TEST(Sampling, GreedyIsArgmaxFirstOnTies) {
  EXPECT_EQ(argmax({1.0f, 3.0f, 3.0f, -1.0f}), 1);
  Sampler s(SamplingParams{});
  EXPECT_EQ(s.next({0.5f, 2.0f, 2.0f}, {}), 1);
}

TEST(Sampling, SamplesFollowTheDistributionAndSeed) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  std::vector<float> logits = {0.0f, std::log(3.0f), -INFINITY};  // probabilities 1/4, 3/4, 0
  Sampler a(p), b(p);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 8000; ++i) {
    int32_t t = a.next(logits, {});
    EXPECT_EQ(t, b.next(logits, {}));  // same seed, same stream
    counts[t]++;
  }
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[1] / 8000.0, 0.75, 0.02);
}

TEST(Sampling, NanLogitsAreAnError) {
  Sampler s(SamplingParams{});
  EXPECT_THROW(s.next({0.0f, NAN}, {}), Error);
}

}  // namespace
