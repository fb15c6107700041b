#include "liveql/server/metadata_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace liveql::server {
namespace {

namespace fs = std::filesystem;

// Includes nest at most this deep: a cycle is reported instead of recursing forever.
constexpr int kMaxIncludeDepth = 16;
constexpr std::string_view kIncludePrefix = "!include ";

Error file_error(const fs::path& file, const std::string& message) {
  return make_error(ErrorCode::kBadRequest, file.string() + ": " + message);
}

Result<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return file_error(file, "cannot open file");
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return file_error(file, "read failed");
  return out.str();
}

Result<YAML::Node> load_yaml(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return text.take_error();
  try {
    return YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return file_error(file,
                      "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

// The include target of a node, if it is one: Hasura writes the quoted string
// "!include x.yaml"; an unquoted `!include x.yaml` arrives as a tag.
std::optional<std::string> include_target(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  if (node.Tag() == "!include") return node.Scalar();
  const std::string& s = node.Scalar();
  if (s.size() > kIncludePrefix.size() && s.compare(0, kIncludePrefix.size(), kIncludePrefix) == 0)
    return s.substr(kIncludePrefix.size());
  return std::nullopt;
}

struct Loaded {
  YAML::Node node;
  fs::path file;  // the file the node's text came from
};

Result<Loaded> load_resolved(const fs::path& file, int depth);

// Replaces every include inside `node` (read from `file`) by the included document.
Result<YAML::Node> resolve(const YAML::Node& node, const fs::path& file, int depth) {
  if (auto target = include_target(node)) {
    auto loaded = load_resolved(file.parent_path() / *target, depth + 1);
    if (!loaded) return loaded.take_error();
    return loaded->node;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& child : node) {
      auto r = resolve(child, file, depth);
      if (!r) return r.take_error();
      out.push_back(*r);
    }
    return out;
  }
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : node) {
      auto r = resolve(kv.second, file, depth);
      if (!r) return r.take_error();
      out[kv.first] = *r;
    }
    return out;
  }
  return node;
}

Result<Loaded> load_resolved(const fs::path& file, int depth) {
  if (depth > kMaxIncludeDepth) return file_error(file, "!include nested too deeply (a cycle?)");
  auto node = load_yaml(file);
  if (!node) return node.take_error();
  auto resolved = resolve(*node, file, depth);
  if (!resolved) return resolved.take_error();
  return Loaded{std::move(*resolved), file};
}

std::string emit(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

Result<MetadataSources> read_directory(const fs::path& dir) {
  fs::path databases = dir / "databases" / "databases.yaml";
  if (!fs::exists(databases)) databases = dir / "metadata" / "databases" / "databases.yaml";
  if (!fs::exists(databases)) {
    return file_error(dir, "not a Hasura metadata directory (no databases/databases.yaml)");
  }
  auto sources = load_yaml(databases);
  if (!sources) return sources.take_error();
  MetadataSources out;
  if (sources->IsNull()) return out;
  if (!sources->IsSequence()) return file_error(databases, "expected a list of sources");

  std::optional<YAML::Node> source;
  for (const auto& s : *sources) {
    if (!s.IsMap()) return file_error(databases, "expected each source to be a mapping");
    auto kind = s["kind"];
    if (!kind || (kind.IsScalar() && kind.Scalar() == "postgres")) {
      source.emplace(static_cast<const YAML::Node&>(s));
      break;
    }
  }
  if (!source) return out;

  if (YAML::Node functions = (*source)["functions"]; functions && !functions.IsNull()) {
    auto resolved = resolve(functions, databases, 1);
    if (!resolved) return resolved.take_error();
    if (!resolved->IsNull() && !resolved->IsSequence())
      return file_error(databases, "expected a list of functions");
    if (resolved->IsSequence())
      for (const auto& entry : *resolved)
        out.functions.push_back({databases.lexically_normal().string(), emit(entry)});
  }
  YAML::Node tables = (*source)["tables"];
  fs::path tables_file = databases;
  if (!tables || tables.IsNull()) return out;
  if (auto target = include_target(tables)) {
    tables_file = databases.parent_path() / *target;
    auto loaded = load_yaml(tables_file);
    if (!loaded) return loaded.take_error();
    tables = *loaded;
  }
  if (tables.IsNull()) return out;
  if (!tables.IsSequence()) return file_error(tables_file, "expected a list of tables");

  for (const auto& entry : tables) {
    if (auto target = include_target(entry)) {
      auto loaded = load_resolved(tables_file.parent_path() / *target, 1);
      if (!loaded) return loaded.take_error();
      out.tables.push_back({loaded->file.lexically_normal().string(), emit(loaded->node)});
    } else {
      auto resolved = resolve(entry, tables_file, 1);
      if (!resolved) return resolved.take_error();
      out.tables.push_back({tables_file.lexically_normal().string(), emit(*resolved)});
    }
  }
  return out;
}

}  // namespace

Result<MetadataSources> read_metadata_sources(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  auto status = fs::status(p, ec);
  if (ec || !fs::exists(status)) return file_error(p, "no such file or directory");
  if (fs::is_directory(status)) return read_directory(p);
  auto text = read_file(p);
  if (!text) return text.take_error();
  MetadataSources out;
  out.whole.push_back({p.string(), std::move(*text)});
  return out;
}

}  // namespace liveql::server
