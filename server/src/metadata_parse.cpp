// Kept apart from metadata_loader.cpp so that the file-reading half links without the
// compiler's parsers.
#include "liveql/server/metadata_loader.hpp"

namespace liveql::server {

Result<metadata::Metadata> load_metadata_path(const std::string& path) {
  auto sources = read_metadata_sources(path);
  if (!sources) return sources.take_error();
  auto prefixed = [](const MetadataText& t, Error e) {
    e.message = t.file + ": " + e.message;
    return e;
  };
  if (!sources->whole.empty()) {
    const auto& doc = sources->whole.front();
    auto parsed = metadata::parse_metadata(doc.text);
    if (!parsed) return prefixed(doc, parsed.take_error());
    return std::move(*parsed);
  }
  metadata::Metadata out;
  for (const auto& t : sources->tables) {
    auto parsed = metadata::parse_table(t.text);
    if (!parsed) return prefixed(t, parsed.take_error());
    out.tables.push_back(std::move(*parsed));
  }
  return out;
}

}  // namespace liveql::server
