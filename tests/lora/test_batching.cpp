// Batching: shifted labels per example, packing within the budget, length buckets, truncation, eval split,
// per-epoch order — all deterministic in the seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "lora/batching.h"
#include "tensor/error.h"
#include "toy_objective.h"

namespace slm {
namespace {

TEST(Batching, LabelsShiftedWithinEachExample) {
  TrainExample a{{10, 11, 12, 13, 14}, {0, 0, 1, 1, 1}, 0};
  TrainExample b{{20, 21, 22}, {0, 1, 0}, 1};
  Batch batch = make_batch({&a, &b});
  // transformers: labels = ids with untrained positions -100, the loss compares logits[t] with labels[t+1].
  EXPECT_EQ(batch.ids, (std::vector<int32_t>{10, 11, 12, 13, 14, 20, 21, 22}));
  EXPECT_EQ(batch.labels, (std::vector<int32_t>{-100, 12, 13, 14, -100, 21, -100, -100}));
  EXPECT_EQ(batch.segments, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(batch.positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2}));
  EXPECT_EQ(batch.counted_tokens(), 4);
}

// Every batch within the budget; labels never cross a segment; every example used exactly once.
void check_batches(const std::vector<TrainExample>& ex, const std::vector<Batch>& batches, int64_t budget) {
  std::multiset<std::vector<int32_t>> want, got;
  for (const auto& e : ex) want.insert(e.ids);
  for (const auto& b : batches) {
    ASSERT_LE(int64_t(b.ids.size()), budget);
    ASSERT_EQ(b.labels.size(), b.ids.size());
    std::vector<int32_t> cur;
    for (size_t t = 0; t < b.ids.size(); ++t) {
      const bool last_of_segment = t + 1 == b.ids.size() || b.segments[t + 1] != b.segments[t];
      if (b.labels[t] != -100) {
        ASSERT_FALSE(last_of_segment) << "a label crosses into the next example";
        ASSERT_EQ(b.labels[t], b.ids[t + 1]);
        ASSERT_EQ(b.positions[t + 1], b.positions[t] + 1);
      }
      if (t == 0 || b.segments[t] != b.segments[t - 1]) {
        ASSERT_EQ(b.positions[t], 0);
      }
      cur.push_back(b.ids[t]);
      if (last_of_segment) {
        got.insert(cur);
        cur.clear();
      }
    }
  }
  EXPECT_EQ(want, got);
}

TEST(Batching, PackingRespectsBudgetAndSegments) {
  auto ex = test::bigram_examples(60, 3);
  for (int64_t budget : {12, 20, 64}) {
    BatchOptions opt;
    opt.batch_tokens = budget;
    opt.seed = 5;
    auto batches = build_batches(ex, opt);
    check_batches(ex, batches, budget);
    auto again = build_batches(ex, opt);
    EXPECT_EQ(batches_fingerprint(batches), batches_fingerprint(again));  // deterministic
    opt.seed = 6;
    EXPECT_NE(batches_fingerprint(batches), batches_fingerprint(build_batches(ex, opt)));
    // Greedy: a batch was closed only because the next example did not fit.
    for (size_t i = 0; i + 1 < batches.size(); ++i) {
      size_t next_first = 0;
      while (next_first < batches[i + 1].ids.size() && batches[i + 1].segments[next_first] == 0) ++next_first;
      EXPECT_GT(batches[i].ids.size() + next_first, size_t(budget));
    }
  }
}

TEST(Batching, ExampleOverBudgetIsAnError) {
  auto ex = test::bigram_examples(5, 3);
  BatchOptions opt;
  opt.batch_tokens = 4;
  EXPECT_THROW(build_batches(ex, opt), Error);
}

TEST(Batching, BucketsGroupSimilarLengths) {
  auto ex = test::bigram_examples(50, 9);
  BatchOptions opt;
  opt.mode = BatchMode::Bucketed;
  opt.batch_tokens = 1000;
  opt.batch_size = 4;
  auto batches = build_batches(ex, opt);
  check_batches(ex, batches, opt.batch_tokens);
  EXPECT_EQ(batches.size(), size_t(13));  // ceil(50 / 4)
  int64_t prev_max = 0;
  for (const auto& b : batches) {
    std::map<int32_t, int64_t> len;
    for (int32_t s : b.segments) ++len[s];
    EXPECT_LE(int64_t(len.size()), 4);
    int64_t mn = 1 << 30, mx = 0;
    for (auto& [s, n] : len) mn = std::min(mn, n), mx = std::max(mx, n);
    EXPECT_GE(mn, prev_max);  // sorted by length: batches never overlap in length
    prev_max = mx;
  }
}

TEST(Batching, TruncationKeepsTheStartAndReports) {
  std::vector<TrainExample> ex = {
      {{1, 2, 3, 4, 5, 6}, {0, 0, 0, 1, 1, 1}, -1},  // cut to 4: one target left (token 3)
      {{1, 2, 3, 4, 5, 6}, {0, 0, 0, 0, 1, 1}, -1},  // cut to 4: no target left → dropped
      {{7, 8, 9}, {0, 1, 1}, -1},                    // short: untouched
  };
  PrepareReport r;
  auto out = prepare_examples(ex, 4, &r);
  ASSERT_EQ(out.size(), size_t(2));
  EXPECT_EQ(out[0].ids, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(out[0].mask, (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(out[1].source, 2);
  EXPECT_EQ(r.examples_in, 3);
  EXPECT_EQ(r.truncated, 2);
  EXPECT_EQ(r.tokens_cut, 4);
  EXPECT_EQ(r.dropped_no_target, 1);
  EXPECT_EQ(r.targets, 1 + 2);
  EXPECT_NE(r.summary().find("2 truncated"), std::string::npos);
}

TEST(Batching, EvalSplitIsSeededAndDisjoint) {
  auto s = split_eval(95, 0.1, 42);
  EXPECT_EQ(s.eval.size(), size_t(10));  // ceil(9.5), as datasets' train_test_split
  EXPECT_EQ(s.train.size(), size_t(85));
  std::set<int64_t> all(s.train.begin(), s.train.end());
  for (int64_t i : s.eval) EXPECT_TRUE(all.insert(i).second);
  EXPECT_EQ(all.size(), size_t(95));
  EXPECT_EQ(split_eval(95, 0.1, 42).eval, s.eval);
  EXPECT_NE(split_eval(95, 0.1, 43).eval, s.eval);
  EXPECT_TRUE(split_eval(10, 0.0, 1).eval.empty());
  EXPECT_THROW(split_eval(1, 0.5, 1), Error);  // nothing left to train on
}

TEST(Batching, PermutationIsUniformEnough) {
  // Each position of a 4-permutation takes each value about 1/4 of the time over many seeds.
  std::vector<std::vector<int>> count(4, std::vector<int>(4, 0));
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    auto p = seeded_permutation(4, seed);
    for (int i = 0; i < 4; ++i) ++count[size_t(i)][size_t(p[size_t(i)])];
  }
  for (auto& row : count)
    for (int c : row) EXPECT_NEAR(c, 1000, 120);
}

TEST(Batching, PlanOrderPerEpoch) {
  auto ex = test::bigram_examples(40, 1);
  BatchOptions opt;
  opt.batch_tokens = 16;
  BatchPlan plan(build_batches(ex, opt), 11);
  auto order = [&](int64_t epoch) {
    std::vector<const Batch*> o;
    for (int64_t i = 0; i < plan.size(); ++i) o.push_back(&plan.at(epoch, i));
    return o;
  };
  auto e0 = order(0), e1 = order(1);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(order(0), e0);  // a pure function of (seed, epoch)
  std::set<const Batch*> s0(e0.begin(), e0.end()), s1(e1.begin(), e1.end());
  EXPECT_EQ(s0, s1);
  EXPECT_EQ(int64_t(s0.size()), plan.size());
}

}  // namespace
}  // namespace slm
