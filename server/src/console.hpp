// The console's static files (GET /console, console/README.md): loaded once at startup from a
// directory into memory, then served from memory by name. A request can only name a file that
// was loaded: no path from a request ever reaches the filesystem, so there is no traversal to
// guard against at request time.
//
// Immutable after load(): any thread may serve from it (sessions run on the I/O threads).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "liveql/base/result.hpp"

namespace liveql::server {

class ConsoleAssets {
 public:
  // Bounds of what load() accepts: a larger file, or more in total, is an error (the console's
  // own files are about 4.5 MB).
  static constexpr std::size_t kMaxFileBytes = 16u << 20;
  static constexpr std::size_t kMaxTotalBytes = 64u << 20;
  static constexpr int kMaxDepth = 3;

  struct File {
    std::string content_type;
    std::string body;
  };

  // Reads every regular file of a known type (html, js, css, json, map, png, svg, ico, woff2,
  // txt) under `dir`, at most kMaxDepth folders deep; symbolic links and other types are skipped.
  // Errors (kNotFound): the directory is missing or has no index.html; (kBadRequest): a file or
  // the total is over its bound.
  [[nodiscard]] static Result<ConsoleAssets> load(const std::string& dir);

  // The file at `path` relative to the directory ("index.html", "vendor/graphiql.min.js"), or
  // nullptr.
  const File* find(std::string_view path) const;

  std::size_t size() const { return files_.size(); }

 private:
  std::map<std::string, File, std::less<>> files_;
};

// The console directory used when --console-assets-dir is not given: `console` next to the
// running binary (the build copies it there), else `share/liveql/console` beside its bin/.
// `exe` is the binary's path (/proc/self/exe).
std::string default_console_dir(const std::string& exe);

// The content type served for a file name, or nullopt for a type the console does not serve.
std::optional<std::string> console_content_type(std::string_view name);

}  // namespace liveql::server
