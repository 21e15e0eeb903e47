// Near-duplicate conversations: Jaccard similarity of word 3-gram shingles over the normalised
// (lower-cased, punctuation-free, whitespace-collapsed) user and assistant text. System prompts are left
// out: a dataset usually repeats one on purpose. O(n²) over examples with a size prefilter — fine for the
// few-thousand-example datasets slm targets.
#pragma once
#include <cstddef>
#include <vector>

#include "models/chat/dataset.h"

namespace slm {

struct DuplicatePair {
  size_t a, b;        // indices into ChatDataset::conversations, a < b
  double similarity;  // Jaccard in [0, 1]
};

std::vector<DuplicatePair> near_duplicates(const ChatDataset& ds, double threshold = 0.8);

}  // namespace slm
