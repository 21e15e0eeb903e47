// Near-duplicate detection (see duplicates.h).
#include "models/chat/duplicates.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <string>

namespace slm {
namespace {

std::vector<std::string> words(const Conversation& c) {
  std::vector<std::string> w;
  std::string cur;
  for (const auto& m : c.messages) {
    if (m.role == "system") continue;
    for (unsigned char ch : m.content + " ") {
      if (std::isalnum(ch) || ch >= 0x80) {
        cur += char(std::tolower(ch));
      } else if (!cur.empty()) {
        w.push_back(cur);
        cur.clear();
      }
    }
  }
  return w;
}

std::vector<size_t> shingles(const Conversation& c) {
  std::vector<std::string> w = words(c);
  std::vector<size_t> s;
  const size_t k = 3;
  if (w.size() < k) {
    std::string all;
    for (const auto& x : w) all += x + " ";
    s.push_back(std::hash<std::string>{}(all));
  } else {
    for (size_t i = 0; i + k <= w.size(); ++i)
      s.push_back(std::hash<std::string>{}(w[i] + " " + w[i + 1] + " " + w[i + 2]));
  }
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

double jaccard(const std::vector<size_t>& a, const std::vector<size_t>& b) {
  size_t i = 0, j = 0, inter = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) ++inter, ++i, ++j;
    else if (a[i] < b[j]) ++i;
    else ++j;
  }
  size_t uni = a.size() + b.size() - inter;
  return uni ? double(inter) / double(uni) : 1.0;
}

}  // namespace

std::vector<DuplicatePair> near_duplicates(const ChatDataset& ds, double threshold) {
  std::vector<std::vector<size_t>> sh;
  sh.reserve(ds.conversations.size());
  for (const auto& c : ds.conversations) sh.push_back(shingles(c));
  std::vector<DuplicatePair> out;
  for (size_t a = 0; a < sh.size(); ++a) {
    for (size_t b = a + 1; b < sh.size(); ++b) {
      const double small = double(std::min(sh[a].size(), sh[b].size()));
      const double large = double(std::max(sh[a].size(), sh[b].size()));
      if (small < threshold * large) continue;  // Jaccard <= small / large
      double s = jaccard(sh[a], sh[b]);
      if (s >= threshold) out.push_back({a, b, s});
    }
  }
  return out;
}

}  // namespace slm
