// Examples → packed / length-bucketed micro-batches, eval split, per-epoch order (see batching.h).
#include "lora/batching.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tensor/error.h"

namespace slm {

int64_t Batch::counted_tokens() const {
  int64_t n = 0;
  for (int32_t l : labels) n += l != -100;
  return n;
}

LossRows loss_rows(const Batch& b) {
  std::vector<int32_t> rows, kept;
  for (size_t t = 0; t < b.labels.size(); ++t)
    if (b.labels[t] != -100) rows.push_back(int32_t(t)), kept.push_back(b.labels[t]);
  if (kept.empty() || kept.size() == b.labels.size())
    return {Tensor(), Tensor::from_i32(b.labels, {int64_t(b.labels.size())})};
  return {Tensor::from_i32(rows, {int64_t(rows.size())}), Tensor::from_i32(kept, {int64_t(kept.size())})};
}

// ---- randomness ---------------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t s = seed;
  uint64_t x = splitmix64(s);
  s = x ^ a;
  x = splitmix64(s);
  s = x ^ b;
  return splitmix64(s);
}

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  uint64_t state = seed;
  for (int64_t i = n - 1; i > 0; --i) {
    // Uniform j in [0, i]: reject draws from the incomplete last block of 2^64.
    const uint64_t range = uint64_t(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r;
    do r = splitmix64(state);
    while (r >= limit);
    std::swap(p[size_t(i)], p[size_t(r % range)]);
  }
  return p;
}

// ---- examples -----------------------------------------------------------------------------------------

static int64_t count_targets(const TrainExample& e) {
  int64_t n = 0;
  for (size_t t = 1; t < e.mask.size(); ++t) n += e.mask[t] != 0;  // token 0 is never a target
  return n;
}

std::string PrepareReport::summary() const {
  std::ostringstream o;
  o << kept << " of " << examples_in << " examples (" << tokens << " tokens, " << targets << " trained targets)";
  if (truncated) o << "; " << truncated << " truncated to --max-len (" << tokens_cut << " tokens cut from their ends)";
  if (dropped_no_target) o << "; " << dropped_no_target << " dropped: no trained token left after truncation";
  return o.str();
}

std::vector<TrainExample> prepare_examples(std::vector<TrainExample> examples, int64_t max_len,
                                           PrepareReport* report) {
  SLM_CHECK(max_len >= 0, "[batching] --max-len must be >= 0 (0 = no limit), got " + std::to_string(max_len));
  PrepareReport r;
  std::vector<TrainExample> out;
  r.examples_in = int64_t(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    TrainExample& e = examples[i];
    SLM_CHECK(e.ids.size() == e.mask.size(), "[batching] example " + std::to_string(i) + " has " +
                                                 std::to_string(e.ids.size()) + " ids but " +
                                                 std::to_string(e.mask.size()) + " mask entries");
    if (e.source < 0) e.source = int64_t(i);
    if (max_len > 0 && int64_t(e.ids.size()) > max_len) {
      ++r.truncated;
      r.tokens_cut += int64_t(e.ids.size()) - max_len;
      e.ids.resize(size_t(max_len));
      e.mask.resize(size_t(max_len));
    }
    const int64_t targets = count_targets(e);
    if (targets == 0) {
      ++r.dropped_no_target;
      continue;
    }
    r.tokens += int64_t(e.ids.size());
    r.targets += targets;
    out.push_back(std::move(e));
  }
  r.kept = int64_t(out.size());
  if (report) *report = r;
  return out;
}

std::vector<TrainExample> prepare_examples(const std::vector<EncodedExample>& encoded, int64_t max_len,
                                           PrepareReport* report) {
  std::vector<TrainExample> ex;
  ex.reserve(encoded.size());
  int64_t pre_truncated = 0, pre_cut = 0;
  for (size_t i = 0; i < encoded.size(); ++i) {
    ex.push_back(TrainExample{encoded[i].ids, encoded[i].mask, int64_t(i)});
    if (encoded[i].truncated) {  // encode_example already cut it to its own max_len
      ++pre_truncated;
      pre_cut += encoded[i].full_length - int64_t(encoded[i].ids.size());
    }
  }
  PrepareReport r;
  auto out = prepare_examples(std::move(ex), max_len, &r);
  r.truncated += pre_truncated;
  r.tokens_cut += pre_cut;
  if (report) *report = r;
  return out;
}

EvalSplit split_eval(int64_t n, double fraction, uint64_t seed) {
  SLM_CHECK(fraction >= 0.0 && fraction < 1.0,
            "[batching] --eval-split must lie in [0, 1), got " + std::to_string(fraction));
  const int64_t n_eval = int64_t(std::ceil(fraction * double(n)));
  SLM_CHECK(n - n_eval >= 1, "[batching] --eval-split " + std::to_string(fraction) + " of " + std::to_string(n) +
                                 " examples leaves none to train on — use a smaller fraction or more data");
  const auto perm = seeded_permutation(n, mix_seed(seed, 0x6576616cULL /* 'eval' */));
  EvalSplit s;
  s.eval.assign(perm.begin(), perm.begin() + n_eval);
  s.train.assign(perm.begin() + n_eval, perm.end());
  std::sort(s.eval.begin(), s.eval.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

// ---- batches ------------------------------------------------------------------------------------------

BatchMode parse_batch_mode(const std::string& name) {
  if (name == "packed") return BatchMode::Packed;
  if (name == "bucketed") return BatchMode::Bucketed;
  throw Error("[batching] unknown batching mode '" + name + "' — use packed or bucketed");
}

std::string batch_mode_name(BatchMode m) { return m == BatchMode::Packed ? "packed" : "bucketed"; }

Batch make_batch(const std::vector<const TrainExample*>& examples) {
  Batch b;
  for (size_t s = 0; s < examples.size(); ++s) {
    const TrainExample& e = *examples[s];
    const size_t n = e.ids.size();
    for (size_t t = 0; t < n; ++t) {
      b.ids.push_back(e.ids[t]);
      // The target of token t is token t+1 of the same example, when that one is trained.
      b.labels.push_back(t + 1 < n && e.mask[t + 1] ? e.ids[t + 1] : -100);
      b.segments.push_back(int32_t(s));
      b.positions.push_back(int32_t(t));
    }
  }
  return b;
}

std::vector<Batch> build_batches(const std::vector<TrainExample>& examples, const BatchOptions& opt, bool shuffle) {
  SLM_CHECK(opt.batch_tokens > 0, "[batching] the token budget per batch must be > 0");
  SLM_CHECK(opt.batch_size >= 0, "[batching] the batch size must be >= 0");
  std::vector<int64_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = int64_t(i);
    const int64_t len = int64_t(examples[i].ids.size());
    SLM_CHECK(len <= opt.batch_tokens, "[batching] example " + std::to_string(examples[i].source) + " has " +
                                           std::to_string(len) + " tokens, more than the batch budget of " +
                                           std::to_string(opt.batch_tokens) +
                                           " — raise the budget or set --max-len to at most the budget");
  }
  if (opt.mode == BatchMode::Packed) {
    if (shuffle) order = seeded_permutation(int64_t(examples.size()), mix_seed(opt.seed, 0x7061636bULL /* 'pack' */));
  } else {
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return examples[size_t(a)].ids.size() < examples[size_t(b)].ids.size(); });
  }
  std::vector<Batch> out;
  std::vector<const TrainExample*> cur;
  int64_t cur_tokens = 0;
  for (int64_t i : order) {
    const TrainExample& e = examples[size_t(i)];
    const int64_t len = int64_t(e.ids.size());
    const bool full = cur_tokens + len > opt.batch_tokens ||
                      (opt.mode == BatchMode::Bucketed && opt.batch_size > 0 && int64_t(cur.size()) == opt.batch_size);
    if (!cur.empty() && full) {
      out.push_back(make_batch(cur));
      cur.clear();
      cur_tokens = 0;
    }
    cur.push_back(&e);
    cur_tokens += len;
  }
  if (!cur.empty()) out.push_back(make_batch(cur));
  return out;
}

BatchStats batch_stats(const std::vector<Batch>& batches, int64_t budget) {
  BatchStats s;
  s.batches = int64_t(batches.size());
  for (const auto& b : batches) {
    s.tokens += int64_t(b.ids.size());
    s.targets += b.counted_tokens();
    s.max_tokens = std::max<int64_t>(s.max_tokens, int64_t(b.ids.size()));
  }
  if (s.batches && budget > 0) s.fill = double(s.tokens) / (double(s.batches) * double(budget));
  return s;
}

static void fnv(uint64_t& h, const std::vector<int32_t>& v) {
  for (int32_t x : v) {
    uint32_t u = uint32_t(x);
    for (int k = 0; k < 4; ++k) {
      h ^= (u >> (8 * k)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  }
  h ^= 0xff;  // separator: [1,2][3] and [1][2,3] differ
  h *= 0x100000001b3ULL;
}

uint64_t batches_fingerprint(const std::vector<Batch>& batches) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& b : batches) {
    fnv(h, b.ids);
    fnv(h, b.labels);
    fnv(h, b.segments);
    fnv(h, b.positions);
  }
  return h;
}

BatchPlan::BatchPlan(std::vector<Batch> batches, uint64_t seed, bool shuffle_each_epoch)
    : batches_(std::move(batches)), seed_(seed), shuffle_(shuffle_each_epoch) {
  // The order of every epoch depends on the seed too: a resume with another seed would see other batches.
  fingerprint_ = batches_fingerprint(batches_) ^ mix_seed(seed_, shuffle_ ? 1 : 0);
}

const Batch& BatchPlan::at(int64_t epoch, int64_t index) const {
  SLM_CHECK(index >= 0 && index < size(), "[batching] batch " + std::to_string(index) + " of " +
                                              std::to_string(size()) + " requested");
  if (!shuffle_) return batches_[size_t(index)];
  if (epoch != cached_epoch_) {
    order_ = seeded_permutation(size(), mix_seed(seed_, 0x65706f63ULL /* 'epoc' */, uint64_t(epoch)));
    cached_epoch_ = epoch;
  }
  return batches_[size_t(order_[size_t(index)])];
}

}  // namespace slm
