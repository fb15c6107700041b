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
  // Each function entry goes through the compiler's parser as a one-function source.
  for (const auto& f : sources->functions) {
    std::string doc = "version: 3\nsources:\n- name: default\n  kind: postgres\n  functions:\n";
    std::string indent = "  - ";
    for (size_t i = 0; i < f.text.size();) {
      size_t end = f.text.find('\n', i);
      if (end == std::string::npos) end = f.text.size();
      doc += indent + f.text.substr(i, end - i) + "\n";
      indent = "    ";
      i = end + 1;
    }
    auto parsed = metadata::parse_metadata(doc);
    if (!parsed) return prefixed(f, parsed.take_error());
    for (auto& fn : parsed->functions) out.functions.push_back(std::move(fn));
  }
  return out;
}

}  // namespace liveql::server
