// slm serve DIST_DIR — an export folder (and the chat page written next to it) over plain HTTP, on
// 127.0.0.1:8080 by default, for a browser on this machine. cpp-httplib (Debian's libcpp-httplib) speaks
// the protocol; the serving rules (confinement to the folder, MIME types, ranges, caching) are
// cli/static_files.*. Not a production web server: GET/HEAD only, no TLS, no compression of shards.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cli/static_files.h"
#include "cli/verbs.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace slm::cli {

namespace {

using Clock = std::chrono::steady_clock;
// Set when a request reaches the handler; requests httplib answers itself (a malformed request line or
// Range header) log "-" for the time.
thread_local std::optional<Clock::time_point> t_request_start;
std::mutex g_log_mutex;

struct OpenFile {
  int fd = -1;
  explicit OpenFile(int f) : fd(f) {}
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

void text_response(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(message + "\n", "text/plain; charset=utf-8");
}

// The request target as it may be printed: control bytes escaped, long targets cut.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 300)) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return s.size() > 300 ? out + "..." : out;
}

void serve_file(const httplib::Request& req, httplib::Response& res, const fs::path& path) {
  // O_NOFOLLOW: `path` is canonical, so a symlink here was swapped in after resolution.
  auto file = std::make_shared<OpenFile>(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (file->fd < 0 || ::fstat(file->fd, &st) != 0 || !S_ISREG(st.st_mode))
    return text_response(res, 404, "404 Not Found: no such file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const std::string name = path.filename().string();
  const std::string etag = make_etag(size, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
  res.set_header("Cache-Control", std::string(cache_control(name)));
  res.set_header("ETag", etag);
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("X-Content-Type-Options", "nosniff");
  if (req.has_header("If-None-Match") && etag_matches(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    res.set_header("Content-Length", std::to_string(size));  // what a 200 would carry (RFC 9110 §8.6)
    return;
  }
  const ByteRange r = req.has_header("Range") ? parse_byte_range(req.get_header_value("Range"), size) : ByteRange{};
  if (r.kind == ByteRange::Unsatisfiable) {
    res.status = 416;
    res.set_header("Content-Range", content_range(r, size));
    return;
  }
  uint64_t first = 0, length = size;
  res.status = 200;
  if (r.kind == ByteRange::Partial) {
    res.status = 206;
    first = r.first, length = r.length;
    res.set_header("Content-Range", content_range(r, size));
  }
  const std::string type(mime_type(name));
  if (length == 0) return res.set_content("", type);
  res.set_content_provider(length, type, [file, first](size_t offset, size_t len, httplib::DataSink& sink) {
    std::vector<char> buf(std::min<size_t>(len, size_t(1) << 20));
    const ssize_t n = ::pread(file->fd, buf.data(), buf.size(), off_t(first + offset));
    return n > 0 && sink.write(buf.data(), size_t(n));  // n <= 0: the file shrank; drop the connection
  });
}

void serve_directory(const fs::path& root, const httplib::Request& req, httplib::Response& res, const fs::path& dir) {
  if (req.path.back() != '/') {  // "/sub" -> "/sub/", so the page's relative links resolve inside it
    std::string target = req.target;
    target.insert(std::min(target.find('?'), target.size()), "/");
    res.status = 301;
    res.set_header("Location", target);
    return;
  }
  std::error_code ec;
  if (fs::is_regular_file(dir / "index.html", ec)) return serve_file(req, res, dir / "index.html");
  if (dir != root) return text_response(res, 404, "404 Not Found: this folder has no index.html");
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_content(directory_listing_html(root), "text/html; charset=utf-8");
}

httplib::Server::HandlerResponse handle(const fs::path& root, const httplib::Request& req, httplib::Response& res) {
  t_request_start = Clock::now();
  // httplib 0.11 would slice the body again by req.ranges, without checking them against the file's
  // size; serve_file answers ranges itself. `req` is httplib's own mutable Request (process_request).
  const_cast<httplib::Request&>(req).ranges.clear();
  if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    text_response(res, 405, "405 Method Not Allowed: this server only serves files (GET, HEAD)");
    return httplib::Server::HandlerResponse::Handled;
  }
  const ResolvedPath p = resolve_request_path(root, req.path);
  switch (p.status) {
    case PathStatus::BadRequest:
      text_response(res, 400, "400 Bad Request: " + p.reason);
      break;
    case PathStatus::Forbidden:
      text_response(res, 403, "403 Forbidden: " + p.reason);
      break;
    case PathStatus::NotFound:
      text_response(res, 404, "404 Not Found: " + p.reason);
      break;
    case PathStatus::File:
      serve_file(req, res, p.path);
      break;
    case PathStatus::Directory:
      serve_directory(root, req, res, p.path);
      break;
  }
  return httplib::Server::HandlerResponse::Handled;
}

// One line per request on stderr: method, target, status, body bytes, milliseconds.
void log_request(const httplib::Request& req, const httplib::Response& res) {
  uint64_t bytes = 0;
  if (req.method != "HEAD")
    bytes = !res.body.empty() ? res.body.size() : res.get_header_value<uint64_t>("Content-Length");
  char ms[32] = "-";
  if (t_request_start) {
    std::snprintf(ms, sizeof ms, "%.1f ms",
                  std::chrono::duration<double, std::milli>(Clock::now() - *t_request_start).count());
    t_request_start.reset();
  }
  const bool aborted = res.content_provider_ && !res.content_provider_success_;
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::fprintf(stderr, "[serve] %s %s %d %llu B %s%s\n", printable(req.method).c_str(), printable(req.target).c_str(),
               res.status, (unsigned long long)bytes, ms, aborted ? " (client left early)" : "");
}

std::string bind_failure(const std::string& host, long long port, int err) {
  const std::string where = "[serve] cannot listen on " + host + ":" + std::to_string(port) + ": ";
  if (err == EADDRINUSE)
    return where + "port " + std::to_string(port) +
           " is already in use (another `slm serve` or another server) — stop that one, or choose another port "
           "with --port N (--port 0 picks a free one)";
  if (err == EACCES)
    return where + "permission denied (ports below 1024 need privileges) — choose another port with --port N";
  if (err == EADDRNOTAVAIL || err == 0)
    return where + "'" + host + "' is not an address of this machine — check --host (127.0.0.1 serves this " +
           "machine only, 0.0.0.0 every network it is on)";
  return where + std::strerror(err) + " — check --host and --port";
}

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

// The URL to print: wildcard hosts are reached through loopback; IPv6 literals need brackets.
std::string open_url(const std::string& host, int port) {
  std::string h = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(port) + "/";
}

void print_notes(const fs::path& root, const std::string& host) {
  std::error_code ec;
  if (!fs::exists(root / "mlc-chat-config.json", ec))
    std::fprintf(stderr, "[serve] note: %s has no mlc-chat-config.json — is it a folder written by `slm export`?\n",
                 root.c_str());
  if (!fs::exists(root / "index.html", ec))
    std::fprintf(stderr,
                 "[serve] note: %s has no index.html (the chat page, written by `slm pipeline`); / lists the "
                 "files instead\n",
                 root.c_str());
  if (!is_loopback(host))
    std::fprintf(stderr,
                 "[serve] note: listening on %s — other machines that reach this one can download "
                 "these files\n",
                 host.c_str());
}

// Runs the accept loop until SIGINT/SIGTERM; returns the signal (0 if the loop ended by itself). The
// signals are blocked in every thread (httplib's pool starts after this) and taken by one watcher.
int listen_until_signal(httplib::Server& svr, bool& listened) {
  sigset_t stop_signals, old;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
  std::atomic<bool> done{false};
  std::atomic<int> caught{0};
  std::thread watcher([&] {
    const timespec tick{0, 100 * 1000 * 1000};
    while (!done) {
      const int s = sigtimedwait(&stop_signals, nullptr, &tick);
      if (s <= 0) continue;
      caught = s;
      while (!done && !svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (!done) svr.stop();  // closes the listening socket; the workers finish their requests
      return;
    }
  });
  listened = svr.listen_after_bind();
  done = true;
  watcher.join();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return caught;
}

int run_serve(const Args& a) {
  const fs::path dir = a.positional[0];
  std::error_code ec;
  SLM_CHECK(fs::is_directory(dir, ec),
            "[serve] " + dir.string() + ": not a directory — pass the folder `slm export --out` wrote");
  const fs::path root = fs::canonical(dir);
  const std::string host = a.str("--host");
  const long long port = a.integer("--port");
  if (port < 0 || port > 65535)
    throw UsageError{"--port expects 0..65535 (0 picks a free port), got " + a.str("--port")};

  httplib::Server svr;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server would share
  // the port silently instead of failing.
  svr.set_socket_options([](socket_t s) {
    int yes = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  svr.set_pre_routing_handler(
      [root](const httplib::Request& req, httplib::Response& res) { return handle(root, req, res); });
  svr.set_logger(log_request);
  errno = 0;
  const int bound = port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, int(port)) ? int(port) : -1);
  if (bound <= 0) throw Error(bind_failure(host, port, errno));

  std::signal(SIGPIPE, SIG_IGN);  // a browser closing a connection mid-shard is not an error
  print_notes(root, host);
  std::printf("Serving %s\nOpen %s in a browser with WebGPU (Ctrl-C stops the server)\n", root.c_str(),
              open_url(host, bound).c_str());
  std::fflush(stdout);
  bool listened = false;
  const int sig = listen_until_signal(svr, listened);
  if (sig) {
    std::fprintf(stderr, "[serve] %s: stopped\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
  }
  SLM_CHECK(listened, "[serve] the listening socket failed on " + host + ":" + std::to_string(bound) +
                          " — start `slm serve` again");
  return 0;
}

}  // namespace

Verb make_serve_verb() {
  return {"serve",
          "DIST_DIR [--host H] [--port N]",
          "Serve an export folder (and its chat page) over HTTP on this machine: MIME types, range requests, "
          "nothing outside the folder.",
          {"DIST_DIR"},
          {{"--host", "H", "address to listen on (0.0.0.0: every network; only this machine by default)", "127.0.0.1"},
           {"--port", "N", "TCP port (0 picks a free one and prints it)", "8080"}},
          run_serve};
}

}  // namespace slm::cli
