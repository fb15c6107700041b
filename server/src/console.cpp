#include "console.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace liveql::server {
namespace {

namespace fs = std::filesystem;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Result<std::string> read_file(const fs::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + path.string());
  std::string body;
  // One byte more than the limit tells a file that is over it from one that is exactly it.
  body.resize(limit + 1);
  in.read(body.data(), static_cast<std::streamsize>(body.size()));
  body.resize(static_cast<std::size_t>(in.gcount()));
  if (body.size() > limit) {
    return make_error(ErrorCode::kBadRequest,
                      path.string() + " is larger than " + std::to_string(limit) + " bytes");
  }
  return body;
}

}  // namespace

std::optional<std::string> console_content_type(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json; charset=utf-8"},
      {".map", "application/json; charset=utf-8"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (ends_with(name, ext)) return std::string(type);
  }
  return std::nullopt;
}

Result<ConsoleAssets> ConsoleAssets::load(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error(ErrorCode::kNotFound, "console directory " + dir + " does not exist");
  }
  ConsoleAssets assets;
  std::size_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  if (ec) return make_error(ErrorCode::kNotFound, "cannot list " + dir + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return make_error(ErrorCode::kNotFound, "cannot list " + dir + ": " + ec.message());
    const fs::directory_entry& entry = *it;
    if (it.depth() >= kMaxDepth) it.disable_recursion_pending();
    // Symbolic links are not followed: the console serves what its directory holds.
    if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    std::string name = fs::relative(entry.path(), dir, ec).generic_string();
    if (ec || name.empty()) continue;
    auto type = console_content_type(name);
    if (!type) continue;
    auto body = read_file(entry.path(), kMaxFileBytes);
    if (!body) return body.take_error();
    total += body->size();
    if (total > kMaxTotalBytes) {
      return make_error(ErrorCode::kBadRequest, "console directory " + dir + " holds more than " +
                                                    std::to_string(kMaxTotalBytes) + " bytes");
    }
    assets.files_.emplace(std::move(name), File{std::move(*type), std::move(*body)});
  }
  if (assets.find("index.html") == nullptr) {
    return make_error(ErrorCode::kNotFound, "console directory " + dir + " has no index.html");
  }
  return assets;
}

const ConsoleAssets::File* ConsoleAssets::find(std::string_view path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

std::string default_console_dir(const std::string& exe) {
  fs::path bin = fs::path(exe).parent_path();
  std::error_code ec;
  if (fs::is_directory(bin / "console", ec)) return (bin / "console").string();
  return (bin.parent_path() / "share" / "liveql" / "console").string();
}

}  // namespace liveql::server
