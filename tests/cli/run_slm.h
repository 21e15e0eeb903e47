// Runs the slm executable for CLI tests and captures its exit status and output.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

struct SlmRun {
  int status;
  std::string out;
};

// `args` go to the shell after the executable; stderr is merged into `out` unless stdout_only.
inline SlmRun run_slm(const std::string& args, bool stdout_only = false) {
  std::string cmd = std::string(SLM_EXE) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  int st = pclose(p.release());
  return {WEXITSTATUS(st), out};
}
