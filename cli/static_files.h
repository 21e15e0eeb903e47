// The file-serving rules of `slm serve`, as functions of their inputs: which file a request path names
// (never one outside the served folder, symlinks included), its MIME type and Cache-Control, and what
// a `Range` header asks of a file of a given size (RFC 9110 §14). No sockets here: cli/serve.cpp puts
// these on cpp-httplib; tests/cli/test_serve.cpp checks them one by one and end to end.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace slm::cli {

enum class PathStatus { File, Directory, NotFound, Forbidden, BadRequest };

struct ResolvedPath {
  PathStatus status = PathStatus::NotFound;
  std::filesystem::path path;  // canonical and inside the root (File, Directory)
  std::string reason;          // why not (the others): the body of the error response
};

// `root` must be canonical (std::filesystem::canonical). `url_path` is the request path after
// percent-decoding ("/params_shard_0.bin"). A ".." segment is Forbidden before the file system is
// touched; a path whose real location (symlinks followed) leaves the root is Forbidden; dotfiles,
// missing files and anything but regular files and directories are NotFound; a path not starting
// with '/' or holding a NUL byte is BadRequest.
ResolvedPath resolve_request_path(const std::filesystem::path& root, const std::string& url_path);

// "application/wasm" for "model.wasm"; by extension, case-insensitive; application/octet-stream when unknown.
std::string_view mime_type(std::string_view filename);

// params_shard_*.bin never change under one name within an export: cached for a year, immutable.
// Everything else (configs, the page, its scripts) is revalidated on each load ("no-cache" + ETag).
std::string_view cache_control(std::string_view filename);

// A strong validator from size and modification time: "\"3e8-17b2c1f3a0e4c2d0\"".
std::string make_etag(uint64_t size, int64_t mtime_ns);
// If-None-Match: "*" or a comma list of (possibly weak W/) tags; weak comparison (RFC 9110 §13.1.2).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

struct ByteRange {
  enum Kind { Whole, Partial, Unsatisfiable } kind = Whole;
  uint64_t first = 0;   // Partial: first byte
  uint64_t length = 0;  // Partial: byte count (>= 1)
};

// What `Range: <header>` asks of a file of `size` bytes. Whole: no header, another unit, or several
// ranges (ignored as RFC 9110 §14.2 allows: answered 200 with the whole file). Partial: one satisfiable
// range, "bytes=0-99", "bytes=100-" or "bytes=-50", the end clamped to the file. Unsatisfiable (416):
// a malformed spec, first > last, a start at or past the end, "bytes=-0", or any range of an empty file.
ByteRange parse_byte_range(std::string_view header, uint64_t size);
// Content-Range: "bytes 100-199/1000" (Partial) or "bytes */1000" (Unsatisfiable).
std::string content_range(const ByteRange& r, uint64_t size);

// The page served at "/" when the folder has no index.html: the files a request would get (links,
// sizes) and a note that the chat page is not there. `dir` must be the canonical root.
std::string directory_listing_html(const std::filesystem::path& dir);

std::string html_escape(std::string_view s);
// Percent-encodes everything but RFC 3986 unreserved characters (for one path segment of a link).
std::string percent_encode_segment(std::string_view s);

}  // namespace slm::cli
