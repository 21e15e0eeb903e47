// The file-serving rules of `slm serve` (see static_files.h): path resolution confined to the root,
// MIME types, caching headers, byte ranges, the generated listing page.
#include "cli/static_files.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace slm::cli {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// True when the canonical `p` is `root` or below it (compared component by component, so "/srv/d2" is
// not inside "/srv/d").
bool is_within(const fs::path& root, const fs::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

// Decimal digits only; saturates at UINT64_MAX (a huge end is clamped later, a huge start is past the end).
bool parse_u64(std::string_view s, uint64_t& v) {
  if (s.empty()) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    v = v > (std::numeric_limits<uint64_t>::max() - d) / 10 ? std::numeric_limits<uint64_t>::max() : v * 10 + d;
  }
  return true;
}

std::string size_text(uintmax_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%ju B", n);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

ResolvedPath resolve_request_path(const fs::path& root, const std::string& url_path) {
  if (url_path.empty() || url_path[0] != '/')
    return {PathStatus::BadRequest, {}, "the request path must start with '/'"};
  if (url_path.find('\0') != std::string::npos)
    return {PathStatus::BadRequest, {}, "the request path holds a NUL byte"};
  fs::path rel;
  size_t pos = 0;
  while (pos <= url_path.size()) {
    size_t end = url_path.find('/', pos);
    if (end == std::string::npos) end = url_path.size();
    std::string_view seg(url_path.data() + pos, end - pos);
    pos = end + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") return {PathStatus::Forbidden, {}, "'..' would leave the served folder"};
    if (seg.front() == '.') return {PathStatus::NotFound, {}, "hidden files are not served"};
    rel /= fs::path(std::string(seg));
  }
  std::error_code ec;
  fs::path real = fs::canonical(root / rel, ec);  // follows every symlink
  if (ec) return {PathStatus::NotFound, {}, "no such file"};
  if (!is_within(root, real)) return {PathStatus::Forbidden, {}, "a symlink leads outside the served folder"};
  fs::file_status st = fs::status(real, ec);
  if (!ec && fs::is_directory(st)) return {PathStatus::Directory, real, {}};
  if (!ec && fs::is_regular_file(st)) {
    if (url_path.back() == '/') return {PathStatus::NotFound, {}, "not a directory"};
    return {PathStatus::File, real, {}};
  }
  return {PathStatus::NotFound, {}, "not a regular file"};
}

std::string_view mime_type(std::string_view filename) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".wasm", "application/wasm"},
      {".json", "application/json"},
      {".bin", "application/octet-stream"},
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".wgsl", "text/wgsl"},
      {".woff2", "font/woff2"},
  };
  size_t slash = filename.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? filename : filename.substr(slash + 1);
  size_t dot = base.find_last_of('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  const std::string ext = lower(base.substr(dot));
  for (const auto& [e, type] : kTypes)
    if (ext == e) return type;
  return "application/octet-stream";
}

std::string_view cache_control(std::string_view filename) {
  size_t slash = filename.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? filename : filename.substr(slash + 1);
  const bool shard = base.rfind("params_shard_", 0) == 0 && base.size() > 4 && base.substr(base.size() - 4) == ".bin";
  return shard ? "public, max-age=31536000, immutable" : "no-cache";
}

std::string make_etag(uint64_t size, int64_t mtime_ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%" PRIx64 "-%" PRIx64 "\"", size, static_cast<uint64_t>(mtime_ns));
  return buf;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  auto opaque = [](std::string_view t) { return t.rfind("W/", 0) == 0 ? t.substr(2) : t; };
  if_none_match = trim(if_none_match);
  if (if_none_match == "*") return true;
  while (!if_none_match.empty()) {
    size_t comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if (!tag.empty() && opaque(tag) == opaque(etag)) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

ByteRange parse_byte_range(std::string_view header, uint64_t size) {
  const ByteRange unsatisfiable{ByteRange::Unsatisfiable, 0, 0};
  header = trim(header);
  if (header.empty()) return {};
  size_t eq = header.find('=');
  if (eq == std::string_view::npos) return unsatisfiable;
  if (lower(trim(header.substr(0, eq))) != "bytes") return {};  // another unit: ignore the header
  std::string_view spec = trim(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return {};  // several ranges: answer with the whole file
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return unsatisfiable;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // "-N": the last N bytes
    if (!parse_u64(b, last) || last == 0 || size == 0) return unsatisfiable;
    const uint64_t n = std::min(last, size);
    return {ByteRange::Partial, size - n, n};
  }
  if (!parse_u64(a, first)) return unsatisfiable;
  if (b.empty())
    last = std::numeric_limits<uint64_t>::max();
  else if (!parse_u64(b, last) || last < first)
    return unsatisfiable;
  if (first >= size) return unsatisfiable;
  last = std::min(last, size - 1);
  return {ByteRange::Partial, first, last - first + 1};
}

std::string content_range(const ByteRange& r, uint64_t size) {
  char buf[80];
  if (r.kind == ByteRange::Partial)
    std::snprintf(buf, sizeof buf, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r.first, r.first + r.length - 1, size);
  else
    std::snprintf(buf, sizeof buf, "bytes */%" PRIu64, size);
  return buf;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string percent_encode_segment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string directory_listing_html(const fs::path& dir) {
  struct Entry {
    std::string name;
    bool is_dir;
    uintmax_t size;
  };
  std::vector<Entry> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    // Listed only what a request would get: no dotfiles, no symlinks leading out, nothing dangling.
    const ResolvedPath p = resolve_request_path(dir, "/" + name);
    if (p.status != PathStatus::File && p.status != PathStatus::Directory) continue;
    std::error_code ec2;
    const bool is_dir = p.status == PathStatus::Directory;
    const uintmax_t size = is_dir ? 0 : fs::file_size(p.path, ec2);
    if (ec2) continue;  // vanished meanwhile
    entries.push_back({name, is_dir, size});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) { return x.name < y.name; });
  const std::string title = html_escape(dir.filename().string());
  std::string h =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>slm serve: " +
      title +
      "</title>\n<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:46em;padding:0 1em}"
      "td{padding:.15em 1.5em .15em 0}td.size{text-align:right;font-variant-numeric:tabular-nums}"
      ".note{background:#fff6d5;border-left:4px solid #e0b000;padding:.6em 1em}</style></head>\n<body>\n<h1>" +
      title +
      "</h1>\n<p class=\"note\">The chat page is not in this folder (it has no <code>index.html</code>). "
      "<code>slm pipeline</code> writes the chat page next to the exported model; a folder written by "
      "<code>slm export</code> alone holds only the model files listed here.</p>\n";
  if (!fs::exists(dir / "mlc-chat-config.json", ec))
    h += "<p>There is no <code>mlc-chat-config.json</code> here: this does not look like a folder written by "
         "<code>slm export</code>.</p>\n";
  h += "<table>\n<tr><th align=\"left\">file</th><th align=\"right\">size</th></tr>\n";
  for (const auto& e : entries) {
    const std::string suffix = e.is_dir ? "/" : "";
    h += "<tr><td><a href=\"" + percent_encode_segment(e.name) + suffix + "\">" + html_escape(e.name) + suffix +
         "</a></td><td class=\"size\">" + (e.is_dir ? std::string("-") : size_text(e.size)) + "</td></tr>\n";
  }
  h += "</table>\n</body></html>\n";
  return h;
}

}  // namespace slm::cli
