// Progress line/bar (see progress.h).
#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>

namespace slm::cli {

Progress::Progress(std::string label, uint64_t total_bytes, FILE* out)
    : label_(std::move(label)), total_(total_bytes), out_(out), tty_(::isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::bytes_text(double b) {
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

std::string Progress::line(uint64_t done, const std::string& item) const {
  const double s = seconds(), rate = s > 0 ? double(done) / s : 0;
  std::string text = label_ + " ";
  char buf[96];
  if (total_) {
    const double f = std::min(1.0, double(done) / double(total_));
    if (tty_) {
      const int width = 24, fill = int(f * width);
      text += "[" + std::string(size_t(fill), '#') + std::string(size_t(width - fill), '-') + "] ";
    }
    std::snprintf(buf, sizeof buf, "%3.0f%% ", 100 * f);
    text += buf + bytes_text(double(done)) + "/" + bytes_text(double(total_));
  } else {
    text += bytes_text(double(done));
  }
  text += "  " + bytes_text(rate) + "/s";
  if (total_ && rate > 0 && done < total_) {
    std::snprintf(buf, sizeof buf, "  ETA %.0fs", double(total_ - done) / rate);
    text += buf;
  }
  if (tty_ && !item.empty()) text += "  " + (item.size() > 48 ? "…" + item.substr(item.size() - 47) : item);
  return text;
}

void Progress::update(uint64_t done, const std::string& item) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
    last_draw_ = now;
    std::fprintf(out_, "\r%s\x1b[K", line(done, item).c_str());
    std::fflush(out_);
    return;
  }
  if (!total_) return;
  const int decile = int(10 * double(done) / double(total_));
  if (decile >= next_decile_ && done < total_) {
    next_decile_ = decile + 1;
    std::fprintf(out_, "%s\n", line(done, item).c_str());
    std::fflush(out_);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  const double s = seconds();
  if (tty_) std::fprintf(out_, "\r\x1b[K");
  std::fprintf(out_, "%s wrote %s in %.2f s (%s/s)\n", label_.c_str(), bytes_text(double(done_)).c_str(), s,
               bytes_text(s > 0 ? double(done_) / s : 0).c_str());
  std::fflush(out_);
}

// ---- CountProgress ------------------------------------------------------------------------------------

CountProgress::CountProgress(std::string label, int64_t total, std::string unit, FILE* out, double plain_every_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), out_(out), tty_(::isatty(fileno(out)) != 0),
      plain_every_s_(plain_every_s), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

static std::string duration_text(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

std::string CountProgress::line(int64_t count, const Fields& fields) const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done_here = first_count_ < 0 ? 0 : count - first_count_;
  const double rate = s > 0 && done_here > 0 ? double(done_here) / s : 0.0;
  std::string text = label_ + " ";
  char buf[96];
  if (total_ > 0) {
    const double f = std::min(1.0, double(count) / double(total_));
    if (tty_) {
      const int width = 24, fill = int(f * width);
      text += "[" + std::string(size_t(fill), '#') + std::string(size_t(width - fill), '-') + "] ";
    }
    std::snprintf(buf, sizeof buf, "%lld/%lld %s", static_cast<long long>(count), static_cast<long long>(total_),
                  unit_.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%lld %s", static_cast<long long>(count), unit_.c_str());
  }
  text += buf;
  if (rate > 0) {
    std::snprintf(buf, sizeof buf, "  %.3g %s/s", rate, unit_.c_str());
    text += buf;
    if (total_ > count) text += "  ETA " + duration_text(double(total_ - count) / rate);
  }
  for (const auto& [k, v] : fields) text += "  " + k + "=" + v;
  return text;
}

void CountProgress::update(int64_t count, const Fields& fields) {
  const auto now = std::chrono::steady_clock::now();
  if (first_count_ < 0) first_count_ = count, start_ = now;
  count_ = count;
  fields_ = fields;
  const bool last = total_ > 0 && count >= total_;
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_) {
    if (drawn_ && since < 0.1 && !last) return;
    std::fprintf(out_, "\r%s\x1b[K", line(count, fields).c_str());
  } else {
    if (drawn_ && since < plain_every_s_ && !last) return;
    std::fprintf(out_, "%s\n", line(count, fields).c_str());
  }
  std::fflush(out_);
  last_draw_ = now;
  drawn_ = true;
}

void CountProgress::print(const std::string& message) {
  if (tty_ && drawn_ && !finished_) {
    std::fprintf(out_, "\r\x1b[K%s\n%s", message.c_str(), line(count_, fields_).c_str());
  } else {
    std::fprintf(out_, "%s\n", message.c_str());
  }
  std::fflush(out_);
}

void CountProgress::finish(const std::string& message) {
  if (finished_) return;
  finished_ = true;
  if (tty_ && drawn_) std::fprintf(out_, "\n");
  if (!message.empty()) std::fprintf(out_, "%s\n", message.c_str());
  std::fflush(out_);
}

}  // namespace slm::cli
