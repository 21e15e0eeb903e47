// Declarative options for one CLI verb: the same table drives parsing, --help, validation and the
// "effective settings" line. One Verb per cli/<verb>.cpp.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace slm::cli {

struct Option {
  std::string name;         // "--max-tokens"
  std::string metavar;      // "N"; empty for a flag
  std::string help;
  std::string default_value;  // as text; "" = none
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // option name -> text ("1" for set flags)

  std::set<std::string> given;  // options written on the command line (not defaulted)

  bool has(const std::string& name) const { return values.count(name) != 0; }
  bool was_given(const std::string& name) const { return given.count(name) != 0; }
  std::string str(const std::string& name) const;   // value or default ("" when none)
  long long integer(const std::string& name) const;  // throws UsageError when not an integer
  double number(const std::string& name) const;
  bool flag(const std::string& name) const { return has(name); }
};

struct UsageError {
  std::string message;
};

struct Verb {
  std::string name;      // "generate"
  std::string synopsis;  // "MODEL_DIR --ids 1,2,3 [options]"
  std::string summary;   // one line
  std::vector<std::string> positional;  // names of required positionals ("MODEL_DIR")
  std::vector<Option> options;
  std::function<int(const Args&)> run;
};

// Parses argv (after the verb) against `verb`; throws UsageError with a message.
Args parse_args(const Verb& verb, const std::vector<std::string>& argv);
std::string usage(const Verb& verb);
// "max-tokens=32 temperature=0 …": the resolved options, printed at start by long-running verbs.
std::string effective_settings(const Verb& verb, const Args& args);

// Comma-separated integers ("3,17,250"); throws UsageError naming `what`.
std::vector<long long> parse_int_list(const std::string& text, const std::string& what);

}  // namespace slm::cli
