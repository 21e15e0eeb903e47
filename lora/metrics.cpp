// metrics.jsonl and the loss-curve SVG (see metrics.h).
#include "lora/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lora/run_state.h"
#include "tensor/error.h"

namespace slm {

std::string metrics_json_line(const MetricsRow& r) {
  nlohmann::ordered_json j;
  j["step"] = r.step;
  j["epoch"] = r.epoch;
  j["loss"] = r.loss;
  j["lr"] = r.lr;
  j["grad_norm"] = r.grad_norm;
  j["tokens"] = r.tokens;
  j["trained_tokens"] = r.trained_tokens;
  j["tokens_per_s"] = std::isfinite(r.tokens_per_s) ? r.tokens_per_s : 0.0;
  j["elapsed_s"] = r.elapsed_s;
  if (r.eval_loss) j["eval_loss"] = *r.eval_loss;
  return j.dump();
}

MetricsRow metrics_from_json_line(const std::string& line, const std::string& where) {
  try {
    const auto j = nlohmann::json::parse(line);
    MetricsRow r;
    r.step = j.at("step").get<int64_t>();
    r.epoch = j.at("epoch").get<double>();
    r.loss = j.at("loss").get<double>();
    r.lr = j.at("lr").get<double>();
    r.grad_norm = j.at("grad_norm").get<double>();
    r.tokens = j.at("tokens").get<int64_t>();
    r.trained_tokens = j.at("trained_tokens").get<int64_t>();
    r.tokens_per_s = j.at("tokens_per_s").get<double>();
    r.elapsed_s = j.at("elapsed_s").get<double>();
    if (j.contains("eval_loss")) r.eval_loss = j.at("eval_loss").get<double>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error("[metrics] " + where + ": not a metrics line (" + e.what() + ")");
  }
}

void MetricsLog::append(const MetricsRow& r) const {
  const std::string line = metrics_json_line(r) + "\n";
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  SLM_CHECK(fd >= 0, "[metrics] cannot open " + path_ + " for appending — is the run directory writable?");
  const ssize_t w = ::write(fd, line.data(), line.size());
  const bool ok = w == ssize_t(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  SLM_CHECK(ok, "[metrics] cannot append to " + path_ + " — is the disk full?");
}

std::vector<MetricsRow> read_metrics(const std::string& path) {
  std::vector<MetricsRow> rows;
  std::ifstream in(path);
  if (!in) return rows;
  std::vector<std::string> lines;
  std::string line;
  bool last_complete = true;
  while (std::getline(in, line)) {
    last_complete = !in.eof();  // getline hit EOF before a newline: a torn last line
    if (!line.empty()) lines.push_back(line);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool last = i + 1 == lines.size();
    try {
      rows.push_back(metrics_from_json_line(lines[i], path + ":" + std::to_string(i + 1)));
    } catch (const Error&) {
      if (last && !last_complete) break;
      throw;
    }
  }
  return rows;
}

std::vector<MetricsRow> truncate_metrics(const std::string& path, int64_t max_step) {
  auto rows = read_metrics(path);
  rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const MetricsRow& r) { return r.step > max_step; }),
             rows.end());
  std::string content;
  for (const auto& r : rows) content += metrics_json_line(r) + "\n";
  write_file_atomic(path, content);
  return rows;
}

// ---- SVG --------------------------------------------------------------------------------------------

// "Nice" tick spacing (1, 2 or 5 × 10^k) giving about `target` intervals over `range`.
static double nice_step(double range, int target) {
  if (!(range > 0)) return 1.0;
  const double raw = range / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

static std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

static std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string loss_curve_svg(const std::vector<MetricsRow>& rows, const std::string& title) {
  const double W = 800, H = 450, left = 70, right = 20, top = 40, bottom = 50;
  const double pw = W - left - right, ph = H - top - bottom;
  double x_max = 1, y_min = INFINITY, y_max = -INFINITY;
  for (const auto& r : rows) {
    x_max = std::max(x_max, double(r.step));
    for (double v : {r.loss, r.eval_loss.value_or(r.loss)})
      if (std::isfinite(v)) y_min = std::min(y_min, v), y_max = std::max(y_max, v);
  }
  if (!(y_min <= y_max)) y_min = 0, y_max = 1;
  if (y_max - y_min < 1e-9) y_min -= 0.5, y_max += 0.5;
  const double ys = nice_step(y_max - y_min, 5), xs = nice_step(x_max, 8);
  y_min = std::floor(y_min / ys) * ys;
  y_max = std::ceil(y_max / ys) * ys;
  auto X = [&](double x) { return left + pw * x / x_max; };
  auto Y = [&](double y) { return top + ph * (1.0 - (y - y_min) / (y_max - y_min)); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(title)
    << "</text>\n";
  for (double y = y_min; y <= y_max + ys * 1e-6; y += ys) {
    o << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << Y(y) << "\" y2=\"" << Y(y)
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << left - 6 << "\" y=\"" << Y(y) + 4 << "\" text-anchor=\"end\">" << num(y) << "</text>\n";
  }
  for (double x = 0; x <= x_max + xs * 1e-6; x += xs)
    o << "<text x=\"" << X(x) << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">" << num(x) << "</text>\n";
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#444\"/>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">step</text>\n";
  o << "<text x=\"16\" y=\"" << top + ph / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
    << top + ph / 2 << ")\">loss</text>\n";
  std::ostringstream train, eval, marks;
  for (const auto& r : rows) {
    if (std::isfinite(r.loss)) train << X(double(r.step)) << "," << Y(r.loss) << " ";
    if (r.eval_loss && std::isfinite(*r.eval_loss)) {
      eval << X(double(r.step)) << "," << Y(*r.eval_loss) << " ";
      marks << "<circle cx=\"" << X(double(r.step)) << "\" cy=\"" << Y(*r.eval_loss)
            << "\" r=\"3\" fill=\"#d95f02\"/>\n";
    }
  }
  o << "<polyline fill=\"none\" stroke=\"#1b9e77\" stroke-width=\"1.5\" points=\"" << train.str() << "\"/>\n";
  o << "<polyline fill=\"none\" stroke=\"#d95f02\" stroke-width=\"1.5\" points=\"" << eval.str() << "\"/>\n";
  o << marks.str();
  o << "<line x1=\"" << left + pw - 130 << "\" x2=\"" << left + pw - 110 << "\" y1=\"" << top + 15 << "\" y2=\""
    << top + 15 << "\" stroke=\"#1b9e77\" stroke-width=\"2\"/><text x=\"" << left + pw - 104 << "\" y=\""
    << top + 19 << "\">train loss</text>\n";
  o << "<line x1=\"" << left + pw - 130 << "\" x2=\"" << left + pw - 110 << "\" y1=\"" << top + 33 << "\" y2=\""
    << top + 33 << "\" stroke=\"#d95f02\" stroke-width=\"2\"/><text x=\"" << left + pw - 104 << "\" y=\""
    << top + 37 << "\">eval loss</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace slm
