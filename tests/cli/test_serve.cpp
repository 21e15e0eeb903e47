// slm serve: the serving rules one by one (cli/static_files.h: confinement to the folder, MIME types,
// caching, byte ranges against RFC 9110's own examples), then the executable end to end: started on
// --port 0 over a temp folder, asked with raw HTTP/1.1 on 127.0.0.1 (so traversal attempts reach the
// server unnormalised), stopped with SIGTERM. Every socket and wait is bounded (5 s reads, 10 s waits).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/static_files.h"

namespace fs = std::filesystem;
using namespace slm::cli;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(::testing::TempDir()) / ("slm_serve_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return fs::canonical(d);
}

void write_file(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string shard_bytes(size_t n) {  // every byte position distinguishable in a range check
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return s;
}

// T/srv (the root): a.json, sub/b.bin, .hidden, link_in -> a.json, link_out -> ../outside/secret.txt,
// dir_out -> ../outside, prefix_out -> ../srv2/x.txt (a sibling whose name starts with the root's).
struct Tree {
  fs::path base, root;
  Tree() : base(fresh_dir("tree")), root(base / "srv") {
    fs::create_directories(root / "sub");
    fs::create_directories(base / "outside");
    fs::create_directories(base / "srv2");
    write_file(root / "a.json", "{}");
    write_file(root / "sub" / "b.bin", "bb");
    write_file(root / ".hidden", "h");
    write_file(base / "outside" / "secret.txt", "secret");
    write_file(base / "srv2" / "x.txt", "x");
    fs::create_symlink("a.json", root / "link_in");
    fs::create_symlink("../outside/secret.txt", root / "link_out");
    fs::create_directory_symlink("../outside", root / "dir_out");
    fs::create_symlink("../srv2/x.txt", root / "prefix_out");
  }
  ~Tree() { fs::remove_all(base); }
};

TEST(ServeFiles, ResolvesPathsInsideTheRoot) {
  Tree t;
  ResolvedPath r = resolve_request_path(t.root, "/a.json");
  EXPECT_EQ(r.status, PathStatus::File);
  EXPECT_EQ(r.path, t.root / "a.json");
  EXPECT_EQ(resolve_request_path(t.root, "/").status, PathStatus::Directory);
  EXPECT_EQ(resolve_request_path(t.root, "/sub").status, PathStatus::Directory);
  EXPECT_EQ(resolve_request_path(t.root, "/sub//./b.bin").path, t.root / "sub" / "b.bin");
  r = resolve_request_path(t.root, "/link_in");  // a symlink that stays inside is fine
  EXPECT_EQ(r.status, PathStatus::File);
  EXPECT_EQ(r.path, t.root / "a.json");
}

TEST(ServeFiles, RefusesEverythingOutsideTheRoot) {
  Tree t;
  for (const char* p : {"/../outside/secret.txt", "/..", "/sub/../../outside/secret.txt", "/sub/../a.json"})
    EXPECT_EQ(resolve_request_path(t.root, p).status, PathStatus::Forbidden) << p;
  for (const char* p : {"/link_out", "/dir_out/secret.txt", "/dir_out", "/prefix_out"})
    EXPECT_EQ(resolve_request_path(t.root, p).status, PathStatus::Forbidden) << p;
  // Absolute paths are taken relative to the root; an encoded "%2e%2e" that reaches this function
  // undecoded is a (missing) file name, never "..": decoding is the HTTP layer's one pass.
  for (const char* p : {"//etc/passwd", "/etc/passwd", "/%2e%2e/outside/secret.txt", "/missing.json", "/.hidden",
                        "/sub/.x", "/a.json/"})
    EXPECT_EQ(resolve_request_path(t.root, p).status, PathStatus::NotFound) << p;
  EXPECT_EQ(resolve_request_path(t.root, "a.json").status, PathStatus::BadRequest);
  EXPECT_EQ(resolve_request_path(t.root, "").status, PathStatus::BadRequest);
  EXPECT_EQ(resolve_request_path(t.root, std::string("/a.json\0x", 9)).status, PathStatus::BadRequest);
}

TEST(ServeFiles, MimeTypesFollowTheirRegistrations) {
  // application/wasm (WebAssembly Web API §4), text/javascript (RFC 9239), application/json (RFC 8259).
  EXPECT_EQ(mime_type("model.wasm"), "application/wasm");
  EXPECT_EQ(mime_type("MODEL.WASM"), "application/wasm");
  EXPECT_EQ(mime_type("tensor-cache.json"), "application/json");
  EXPECT_EQ(mime_type("params_shard_12.bin"), "application/octet-stream");
  EXPECT_EQ(mime_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("worker.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type("icon.svg"), "image/svg+xml");
  EXPECT_EQ(mime_type("tokenizer.model"), "application/octet-stream");
  EXPECT_EQ(mime_type("LICENSE"), "application/octet-stream");
  EXPECT_EQ(mime_type("a.json/README"), "application/octet-stream");
}

TEST(ServeFiles, OnlyShardsAreImmutable) {
  EXPECT_EQ(cache_control("params_shard_0.bin"), "public, max-age=31536000, immutable");
  EXPECT_EQ(cache_control("/x/params_shard_117.bin"), "public, max-age=31536000, immutable");
  for (const char* f :
       {"tensor-cache.json", "mlc-chat-config.json", "index.html", "model.wasm", "params_shard_0.bin.tmp", "other.bin"})
    EXPECT_EQ(cache_control(f), "no-cache") << f;
}

TEST(ServeFiles, EtagsCompareWeaklyAsRfc9110Says) {
  const std::string e = make_etag(1000, 123456789);
  EXPECT_EQ(e.front(), '"');
  EXPECT_NE(e, make_etag(1001, 123456789));
  EXPECT_NE(e, make_etag(1000, 123456790));
  EXPECT_TRUE(etag_matches(e, e));
  EXPECT_TRUE(etag_matches("W/" + e, e));
  EXPECT_TRUE(etag_matches("\"zz\", " + e, e));
  EXPECT_TRUE(etag_matches("*", e));
  EXPECT_FALSE(etag_matches("\"zz\"", e));
  EXPECT_FALSE(etag_matches("", e));
}

void expect_partial(const std::string& header, uint64_t size, uint64_t first, uint64_t length) {
  ByteRange r = parse_byte_range(header, size);
  EXPECT_EQ(r.kind, ByteRange::Partial) << header;
  EXPECT_EQ(r.first, first) << header;
  EXPECT_EQ(r.length, length) << header;
}

TEST(ServeFiles, ByteRangesMatchRfc9110Examples) {
  // RFC 9110 §14.1.2, a representation of 10000 bytes.
  expect_partial("bytes=0-499", 10000, 0, 500);
  expect_partial("bytes=500-999", 10000, 500, 500);
  expect_partial("bytes=-500", 10000, 9500, 500);
  expect_partial("bytes=9500-", 10000, 9500, 500);
  expect_partial("bytes=0-99", 1000, 0, 100);
  expect_partial("bytes=100-", 1000, 100, 900);
  expect_partial("bytes=-50", 1000, 950, 50);
  expect_partial("bytes=0-0", 1000, 0, 1);
  expect_partial("bytes=999-999", 1000, 999, 1);
  expect_partial("bytes=500-99999", 1000, 500, 500);  // the end is clamped
  expect_partial("bytes=0-99999999999999999999999", 1000, 0, 1000);
  expect_partial("bytes=-5000", 1000, 0, 1000);     // a suffix longer than the file is the whole file
  expect_partial(" Bytes = 10-19 ", 1000, 10, 10);  // the unit is case-insensitive
  // §14.4: "bytes 42-1233/1234" and "bytes */1234".
  EXPECT_EQ(content_range({ByteRange::Partial, 42, 1192}, 1234), "bytes 42-1233/1234");
  EXPECT_EQ(content_range({ByteRange::Unsatisfiable, 0, 0}, 1234), "bytes */1234");
}

TEST(ServeFiles, UnsatisfiableAndIgnoredRanges) {
  for (const char* h : {"bytes=1000-", "bytes=1000-2000", "bytes=5-2", "bytes=-0", "bytes=abc", "bytes=-",
                        "bytes=1-2-3", "bytes=+1-2", "bytes", "bytes=99999999999999999999999-"})
    EXPECT_EQ(parse_byte_range(h, 1000).kind, ByteRange::Unsatisfiable) << h;
  EXPECT_EQ(parse_byte_range("bytes=0-0", 0).kind, ByteRange::Unsatisfiable);  // an empty file has no bytes
  EXPECT_EQ(parse_byte_range("bytes=-1", 0).kind, ByteRange::Unsatisfiable);
  // Several ranges and other units are ignored (RFC 9110 §14.2 lets a server answer 200 with it all).
  for (const char* h : {"", "bytes=0-99,200-299", "bytes=0-0,-1", "items=0-5"})
    EXPECT_EQ(parse_byte_range(h, 1000).kind, ByteRange::Whole) << h;
}

TEST(ServeFiles, ListingShowsWhatARequestWouldGet) {
  Tree t;
  write_file(t.root / "<b>&.json", "1234");
  const std::string html = directory_listing_html(t.root);
  EXPECT_NE(html.find("The chat page is not in this folder"), std::string::npos);
  EXPECT_NE(html.find("no <code>mlc-chat-config.json</code>"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"a.json\">a.json</a>"), std::string::npos) << html;
  EXPECT_NE(html.find("<a href=\"sub/\">sub/</a>"), std::string::npos) << html;
  EXPECT_NE(html.find("<a href=\"%3Cb%3E%26.json\">&lt;b&gt;&amp;.json</a></td><td class=\"size\">4 B"),
            std::string::npos)
      << html;
  for (const char* hidden : {".hidden", "link_out", "dir_out", "prefix_out", "<b>"})
    EXPECT_EQ(html.find(hidden), std::string::npos) << hidden;
  write_file(t.root / "mlc-chat-config.json", "{}");
  EXPECT_EQ(directory_listing_html(t.root).find("does not look like"), std::string::npos);
}

// ---------------------------------------------------------------- end to end, through the executable

// `slm ARGS…` as a child: stdout on a pipe (the URL line), stderr in a file (the request log).
struct ServerProcess {
  pid_t pid = -1;
  int out_fd = -1;
  fs::path err_path;
  std::string out;

  ServerProcess(const std::vector<std::string>& args, const fs::path& err) : err_path(err) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> all = {SLM_EXE};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : all) argv.push_back(s.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, SLM_EXE, &fa, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_fd = fds[0];
  }
  ~ServerProcess() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out_fd >= 0) ::close(out_fd);
  }
  // The port of the printed "http://127.0.0.1:PORT/", or 0 if none within 10 s (or the child ended).
  int read_port() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    const std::regex url(R"(http://127\.0\.0\.1:(\d+)/)");
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      if (std::regex_search(out, m, url)) return std::stoi(m[1]);
      pollfd p{out_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[512];
        const ssize_t n = ::read(out_fd, buf, sizeof buf);
        if (n <= 0) return 0;
        out.append(buf, size_t(n));
      }
    }
    return 0;
  }
  // The wait status once the child ends within `seconds`; -1 if it does not (it is then killed).
  int wait_exit(int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int st = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  std::string err() const { return read_file(err_path); }
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One request on its own connection to 127.0.0.1:port; `target` is sent byte for byte.
HttpResponse http(int port, const std::string& method, const std::string& target, const std::string& extra = "") {
  HttpResponse r;
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return r;
  }
  const std::string req =
      method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + "\r\n";
  if (::send(s, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    ::close(s);
    return r;
  }
  std::string raw;
  char buf[65536];
  ssize_t n;
  while (raw.size() < (64u << 20) && (n = ::recv(s, buf, sizeof buf, 0)) > 0) raw.append(buf, size_t(n));
  ::close(s);
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  std::istringstream head(raw.substr(0, end));
  std::string line, version;
  std::getline(head, line);
  std::istringstream(line) >> version >> r.status;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  r.body = raw.substr(end + 4);
  return r;
}

TEST(ServeCli, ServesAnExportFolderOverHttp) {
  const fs::path base = fresh_dir("e2e");
  const fs::path dist = base / "dist";
  fs::create_directories(dist);
  fs::create_directories(base / "outside");
  const std::string shard = shard_bytes(1000), cache = R"({"records":[]})";
  write_file(dist / "params_shard_0.bin", shard);
  write_file(dist / "tensor-cache.json", cache);
  write_file(dist / "mlc-chat-config.json", "{}");
  write_file(dist / "model.wasm", std::string("\0asm\1\0\0\0", 8));
  write_file(base / "outside" / "secret.txt", "top secret");
  fs::create_symlink("../outside/secret.txt", dist / "leak");

  ServerProcess srv({"serve", dist.string(), "--port", "0"}, base / "stderr.txt");
  ASSERT_GT(srv.pid, 0);
  const int port = srv.read_port();
  ASSERT_GT(port, 0) << srv.out << srv.err();

  HttpResponse r = http(port, "GET", "/");  // no index.html: the generated listing
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("The chat page is not in this folder"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("params_shard_0.bin"), std::string::npos);

  r = http(port, "GET", "/tensor-cache.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, cache);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("cache-control"), "no-cache");
  const std::string etag = r.header("etag");
  EXPECT_EQ(http(port, "GET", "/tensor-cache.json", "If-None-Match: " + etag + "\r\n").status, 304);

  r = http(port, "GET", "/params_shard_0.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, shard);
  EXPECT_EQ(r.header("content-type"), "application/octet-stream");
  EXPECT_EQ(r.header("content-length"), "1000");
  EXPECT_EQ(r.header("accept-ranges"), "bytes");
  EXPECT_EQ(r.header("cache-control"), "public, max-age=31536000, immutable");

  r = http(port, "GET", "/params_shard_0.bin", "Range: bytes=100-199\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("content-range"), "bytes 100-199/1000");
  EXPECT_EQ(r.body, shard.substr(100, 100));
  r = http(port, "GET", "/params_shard_0.bin", "Range: bytes=-50\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("content-range"), "bytes 950-999/1000");
  EXPECT_EQ(r.body, shard.substr(950));
  r = http(port, "GET", "/params_shard_0.bin", "Range: bytes=2000-\r\n");
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.header("content-range"), "bytes */1000");
  EXPECT_TRUE(r.body.empty());
  r = http(port, "GET", "/params_shard_0.bin", "Range: bytes=0-9,20-29\r\n");  // several: the whole file
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, shard);

  r = http(port, "HEAD", "/params_shard_0.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "1000");
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(http(port, "GET", "/model.wasm").header("content-type"), "application/wasm");

  for (const char* bad :
       {"/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/%2E%2E%2Foutside%2Fsecret.txt", "/leak"}) {
    r = http(port, "GET", bad);
    EXPECT_EQ(r.status, 403) << bad;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos) << bad;
  }
  EXPECT_EQ(http(port, "GET", "/missing.json").status, 404);
  EXPECT_EQ(http(port, "GET", "/etc/passwd").status, 404);
  r = http(port, "POST", "/tensor-cache.json", "Content-Length: 0\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, HEAD");

  write_file(dist / "index.html", "<!doctype html><title>chat</title>");  // the chat page, once written
  r = http(port, "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<!doctype html><title>chat</title>");
  fs::create_directories(dist / "docs");  // a folder without its slash: redirected, so relative links work
  write_file(dist / "docs" / "index.html", "docs");
  r = http(port, "GET", "/docs?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("location"), "/docs/?x=1");
  EXPECT_EQ(http(port, "GET", "/docs/").body, "docs");

  {  // A second server on the same port must fail, not share it (httplib's default SO_REUSEPORT would).
    ServerProcess twin({"serve", dist.string(), "--port", std::to_string(port)}, base / "stderr2.txt");
    const int st = twin.wait_exit(10);
    ASSERT_NE(st, -1) << "a second server started on the taken port " << port;
    EXPECT_EQ(WEXITSTATUS(st), 1);
    EXPECT_NE(twin.err().find("port " + std::to_string(port) + " is already in use"), std::string::npos) << twin.err();
  }

  ASSERT_EQ(::kill(srv.pid, SIGTERM), 0);
  const int st = srv.wait_exit(10);
  ASSERT_NE(st, -1) << "slm serve did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  const std::string log = srv.err();
  for (const char* line : {"[serve] GET /tensor-cache.json 200 14 B ", "[serve] GET /params_shard_0.bin 206 100 B ",
                           "[serve] GET /params_shard_0.bin 416 0 B ", "[serve] GET /leak 403 ",
                           "[serve] HEAD /params_shard_0.bin 200 0 B ", "[serve] SIGTERM: stopped"})
    EXPECT_NE(log.find(line), std::string::npos) << line << "\n" << log;
  fs::remove_all(base);
}

TEST(ServeCli, NamesATakenPortAndSuggestsAnother) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);  // a plain listener: no SO_REUSEADDR/SO_REUSEPORT
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string port = std::to_string(ntohs(a.sin_port));

  const fs::path base = fresh_dir("taken");
  ServerProcess srv({"serve", base.string(), "--port", port}, base.parent_path() / "slm_serve_taken_stderr.txt");
  const int st = srv.wait_exit(10);
  ::close(s);
  ASSERT_NE(st, -1) << "slm serve started on a taken port";
  EXPECT_EQ(WEXITSTATUS(st), 1);
  const std::string err = srv.err();
  EXPECT_NE(err.find("127.0.0.1:" + port), std::string::npos) << err;
  EXPECT_NE(err.find("port " + port + " is already in use"), std::string::npos) << err;
  EXPECT_NE(err.find("--port"), std::string::npos) << err;
  fs::remove_all(base);
}

TEST(ServeCli, RejectsABadPortAndAMissingFolder) {
  const fs::path base = fresh_dir("usage");
  ServerProcess bad_port({"serve", base.string(), "--port", "70000"}, base / "e1.txt");
  int st = bad_port.wait_exit(10);
  ASSERT_NE(st, -1);
  EXPECT_EQ(WEXITSTATUS(st), 2);
  EXPECT_NE(bad_port.err().find("--port expects 0..65535"), std::string::npos) << bad_port.err();
  ServerProcess missing({"serve", (base / "nope").string()}, base / "e2.txt");
  st = missing.wait_exit(10);
  ASSERT_NE(st, -1);
  EXPECT_EQ(WEXITSTATUS(st), 1);
  EXPECT_NE(missing.err().find("not a directory"), std::string::npos) << missing.err();
  fs::remove_all(base);
}

}  // namespace
