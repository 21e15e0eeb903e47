// slm data-stats MODEL_DIR --data F.jsonl [--max-len N]
// Counts, token-length percentiles of the rendered conversations, how many examples --max-len truncates,
// trained (assistant) tokens, and near-duplicate examples.
#include <algorithm>
#include <cstdio>

#include "cli/verbs.h"
#include "models/chat/duplicates.h"
#include "models/chat/example.h"

namespace slm::cli {

static int64_t percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(p / 100.0 * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

static int run_data_stats(const Args& a) {
  const std::string dir = a.positional[0];
  if (!a.has("--data")) throw UsageError{"--data is required"};
  const long long max_len = a.integer("--max-len");
  if (max_len < 0) throw UsageError{"--max-len must be >= 0"};
  ChatDataset ds = read_chat_jsonl(a.str("--data"), a.flag("--skip-bad"));
  Tokenizer tok = Tokenizer::load(dir);
  ChatTemplate tmpl = ChatTemplate::from_model_dir(dir);
  std::vector<int64_t> lengths, trained;
  int64_t truncated = 0, turns = 0, with_system = 0;
  for (const auto& c : ds.conversations) {
    EncodedExample ex = encode_example(tok, tmpl, c, max_len);
    lengths.push_back(ex.full_length);
    int64_t t = 0;
    for (uint8_t m : ex.mask) t += m;
    trained.push_back(t);
    truncated += ex.truncated;
    turns += int64_t(c.messages.size());
    with_system += c.messages.front().role == "system";
  }
  int64_t total = 0, total_trained = 0;
  for (size_t i = 0; i < lengths.size(); ++i) total += lengths[i], total_trained += trained[i];
  std::printf("data          %s\n", a.str("--data").c_str());
  std::printf("examples      %zu (%lld bad lines skipped), %lld messages, %lld with a system prompt\n",
              ds.conversations.size(), (long long)ds.skipped, (long long)turns, (long long)with_system);
  std::printf("tokens        %lld total, %lld trained (assistant turns + end of turn)\n", (long long)total,
              (long long)total_trained);
  std::printf("length        min %lld  p50 %lld  p90 %lld  p95 %lld  p99 %lld  max %lld\n",
              (long long)percentile(lengths, 0), (long long)percentile(lengths, 50),
              (long long)percentile(lengths, 90), (long long)percentile(lengths, 95),
              (long long)percentile(lengths, 99), (long long)percentile(lengths, 100));
  if (max_len > 0)
    std::printf("--max-len %lld truncates %lld examples\n", max_len, (long long)truncated);
  const SpecialTokens& sp = tok.special_tokens();
  if (sp.pad_id && sp.eos_id && *sp.pad_id == *sp.eos_id)
    std::printf("warning       pad token == eos token (%s): mask padding by attention, not by id\n", sp.eos.c_str());
  std::vector<DuplicatePair> dups = near_duplicates(ds, 0.8);
  std::printf("near-duplicates %zu pair(s) (Jaccard of word 3-grams >= 0.8)\n", dups.size());
  for (size_t i = 0; i < dups.size() && i < 50; ++i)
    std::printf("  line %lld ~ line %lld  (%.2f)\n", (long long)ds.conversations[dups[i].a].line,
                (long long)ds.conversations[dups[i].b].line, dups[i].similarity);
  for (const auto& p : ds.problems) std::printf("skipped       %s\n", p.c_str());
  return 0;
}

Verb make_data_stats_verb() {
  return {"data-stats",
          "MODEL_DIR --data F.jsonl [--max-len N]",
          "Counts, token-length percentiles, truncation by --max-len and near-duplicates of a chat dataset.",
          {"MODEL_DIR"},
          {{"--data", "F.jsonl", "chat examples", ""},
           {"--max-len", "N", "report how many examples this length truncates; 0 = none", "0"},
           {"--skip-bad", "", "skip malformed lines instead of stopping", ""}},
          run_data_stats};
}

}  // namespace slm::cli
