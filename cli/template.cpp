// slm template MODEL_DIR --data F.jsonl --index N [--add-generation-prompt] [--mask]
// Prints example N rendered exactly as transformers' apply_chat_template(messages, tokenize=False,
// add_generation_prompt=…) — no extra characters. --mask marks the trained spans as ⟦…⟧ instead.
#include <cstdio>

#include "cli/verbs.h"
#include "models/chat/example.h"

namespace slm::cli {

static int run_template(const Args& a) {
  const std::string dir = a.positional[0];
  if (!a.has("--data")) throw UsageError{"--data is required"};
  ChatDataset ds = read_chat_jsonl(a.str("--data"), a.flag("--skip-bad"));
  const long long n = a.integer("--index");
  if (n < 0 || n >= (long long)ds.conversations.size())
    throw UsageError{"--index " + std::to_string(n) + " is out of range: " + a.str("--data") + " has " +
                     std::to_string(ds.conversations.size()) + " examples (0-based)"};
  ChatTemplate tmpl = ChatTemplate::from_model_dir(dir);
  const Conversation& conv = ds.conversations[size_t(n)];
  std::string out;
  if (a.flag("--mask")) {
    Tokenizer tok = Tokenizer::load(dir);
    out = mark_trained(encode_example(tok, tmpl, conv));
  } else {
    out = tmpl.render(conv.messages, a.flag("--add-generation-prompt"));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

Verb make_template_verb() {
  return {"template",
          "MODEL_DIR --data F.jsonl --index N [--add-generation-prompt] [--mask]",
          "Render one example with the model's chat template, exactly as transformers does.",
          {"MODEL_DIR"},
          {{"--data", "F.jsonl", "chat examples (messages, prompt/completion or instruction/output)", ""},
           {"--index", "N", "which example (0-based, counting valid lines)", "0"},
           {"--add-generation-prompt", "", "end with the assistant header, as for generation", ""},
           {"--mask", "", "mark the trained spans (assistant content + end of turn) as ⟦…⟧", ""},
           {"--skip-bad", "", "skip malformed lines instead of stopping", ""}},
          run_template};
}

}  // namespace slm::cli
