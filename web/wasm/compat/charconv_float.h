// Forced into every C++ file of the wasm build (-include): emscripten 3.1.6's libc++ has std::from_chars and
// std::to_chars for integers only, while models/chat parses float literals with from_chars(first, last,
// double&) (jinja_lexer.cpp) and prints Python's float repr from to_chars(..., double,
// chars_format::scientific) (jinja_value.cpp), as libstdc++ allows. This adds those two overloads on musl's
// correctly rounded strtod / printf. Not a full <charconv>: decimal and scientific input only, scientific
// output only. Delete it once the toolchain's libc++ has them.
#pragma once
#ifdef __cplusplus
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace std {
inline from_chars_result from_chars(const char* first, const char* last, double& value) {
  // from_chars takes no leading whitespace or '+', strtod does: refuse them here.
  if (first == last || *first == '+' || *first == ' ' || (*first >= '\t' && *first <= '\r'))
    return {first, errc::invalid_argument};
  const std::string copy(first, last);  // strtod needs a terminator
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str()) return {first, errc::invalid_argument};
  const char* stop = first + (end - copy.c_str());
  if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) return {stop, errc::result_out_of_range};
  value = v;
  return {stop, errc{}};
}

// The shortest scientific form that reads back as `value` (what to_chars promises): the correctly rounded
// %.*e at increasing precision until strtod returns the same double. Equal to to_chars except where the
// shortest round-tripping digits are not the correctly rounded ones (possible only just above a power of
// two, where the rounding interval is asymmetric): there this prints one digit more.
inline to_chars_result to_chars(char* first, char* last, double value, chars_format fmt) {
  if (fmt != chars_format::scientific) return {last, errc::value_too_large};
  char buf[40];
  int n = 0;
  for (int prec = 0; prec <= 17; ++prec) {
    n = std::snprintf(buf, sizeof buf, "%.*e", prec, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  if (n < 0 || n > last - first) return {last, errc::value_too_large};
  std::memcpy(first, buf, static_cast<size_t>(n));
  return {first + n, errc{}};
}
}  // namespace std
#endif
