// slm: the command-line entry point. Dispatches to one verb; prints the verb's usage on bad arguments.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/verbs.h"
#include "tensor/error.h"

using namespace slm::cli;

static void print_overview(const std::vector<Verb>& verbs) {
  std::printf("usage: slm VERB [options]   (slm VERB --help for a verb's options)\n\nverbs:\n");
  for (const auto& v : verbs) std::printf("  %-10s %s\n", v.name.c_str(), v.summary.c_str());
}

int main(int argc, char** argv) {
  std::vector<Verb> verbs = all_verbs();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_overview(verbs);
    return argc < 2 ? 2 : 0;
  }
  std::string name = argv[1];
  const Verb* verb = nullptr;
  for (const auto& v : verbs)
    if (v.name == name) verb = &v;
  if (!verb) {
    std::fprintf(stderr, "slm: unknown verb '%s'\n\n", name.c_str());
    print_overview(verbs);
    return 2;
  }
  std::vector<std::string> rest(argv + 2, argv + argc);
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h") {
      std::printf("%s", usage(*verb).c_str());
      return 0;
    }
  }
  try {
    Args args = parse_args(*verb, rest);
    return verb->run(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "slm %s: %s\n\n%s", name.c_str(), e.message.c_str(), usage(*verb).c_str());
    return 2;
  } catch (const slm::Error& e) {
    std::fprintf(stderr, "slm %s: error: %s\n", name.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slm %s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
