// Declarative option parsing (see args.h).
#include "cli/args.h"

#include <cstdlib>
#include <sstream>

namespace slm::cli {

static const Option* find_option(const Verb& v, const std::string& name) {
  for (const auto& o : v.options)
    if (o.name == name) return &o;
  return nullptr;
}

std::string Args::str(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::string() : it->second;
}

long long Args::integer(const std::string& name) const {
  std::string s = str(name);
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') throw UsageError{name + " expects an integer, got '" + s + "'"};
  return v;
}

double Args::number(const std::string& name) const {
  std::string s = str(name);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') throw UsageError{name + " expects a number, got '" + s + "'"};
  return v;
}

Args parse_args(const Verb& verb, const std::vector<std::string>& argv) {
  Args a;
  for (const auto& o : verb.options)
    if (!o.default_value.empty()) a.values[o.name] = o.default_value;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string tok = argv[i];
    if (tok.rfind("--", 0) == 0 && tok.size() > 2) {
      std::string value;
      bool inline_value = false;
      if (auto eq = tok.find('='); eq != std::string::npos) {
        value = tok.substr(eq + 1);
        tok = tok.substr(0, eq);
        inline_value = true;
      }
      const Option* o = find_option(verb, tok);
      if (!o) throw UsageError{"unknown option " + tok};
      a.given.insert(tok);
      if (o->metavar.empty()) {
        if (inline_value) throw UsageError{tok + " takes no value"};
        a.values[tok] = "1";
      } else {
        if (!inline_value) {
          if (i + 1 >= argv.size()) throw UsageError{tok + " needs a value (" + o->metavar + ")"};
          value = argv[++i];
        }
        a.values[tok] = value;
      }
    } else {
      a.positional.push_back(tok);
    }
  }
  if (a.positional.size() < verb.positional.size())
    throw UsageError{"missing " + verb.positional[a.positional.size()]};
  if (a.positional.size() > verb.positional.size())
    throw UsageError{"unexpected argument '" + a.positional[verb.positional.size()] + "'"};
  return a;
}

std::string usage(const Verb& verb) {
  std::ostringstream o;
  o << "usage: slm " << verb.name << " " << verb.synopsis << "\n\n" << verb.summary << "\n";
  if (!verb.options.empty()) o << "\noptions:\n";
  for (const auto& opt : verb.options) {
    std::string left = opt.name + (opt.metavar.empty() ? "" : " " + opt.metavar);
    o << "  " << left;
    for (size_t i = left.size(); i < 24; ++i) o << ' ';
    o << " " << opt.help;
    if (!opt.default_value.empty()) o << " (default " << opt.default_value << ")";
    o << "\n";
  }
  o << "  --help                   show this help\n";
  return o.str();
}

std::string effective_settings(const Verb& verb, const Args& args) {
  std::ostringstream o;
  bool first = true;
  for (const auto& opt : verb.options) {
    if (!args.has(opt.name)) continue;
    o << (first ? "" : " ") << opt.name.substr(2) << "=" << args.str(opt.name);
    first = false;
  }
  return o.str();
}

std::vector<long long> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<long long> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0)
      throw UsageError{what + " expects comma-separated non-negative integers, got '" + text + "'"};
    out.push_back(v);
  }
  if (out.empty()) throw UsageError{what + " is empty"};
  return out;
}

}  // namespace slm::cli
