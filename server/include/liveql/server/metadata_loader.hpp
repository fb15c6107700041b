// Reads Hasura metadata from disk: either a directory as `hasura metadata export` writes it
// (databases/databases.yaml -> "!include default/tables/tables.yaml" -> one "!include"d file
// per table, includes relative to the including file), or one JSON/YAML file holding the whole
// export. The parsing itself is the compiler's (metadata::parse_metadata / parse_table); this
// only does the file I/O and the !include resolution. Blocking: called once at startup.
#pragma once

#include <string>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/metadata.hpp"

namespace liveql::server {

// One document to hand to the compiler, and the file it came from (for error messages).
struct MetadataText {
  std::string file;
  std::string text;  // YAML or JSON, every !include resolved
};

// What a metadata path holds once includes are resolved: for a directory, one entry per table
// (`whole` empty); for a single file, `whole` is that file and `tables` is empty.
struct MetadataSources {
  std::vector<MetadataText> tables;
  std::vector<MetadataText> whole;  // at most one
  // A directory's tracked functions (the source's `functions`, usually "!include
  // default/functions/functions.yaml"): one entry per function.
  std::vector<MetadataText> functions;
};

// Resolves a metadata path. A directory may be the `metadata/` folder itself or the project
// folder containing it. Only the first postgres source of databases.yaml is read (liveql serves
// one database). Errors (code kBadRequest) name the file and, for YAML errors, the line.
Result<MetadataSources> read_metadata_sources(const std::string& path);

// read_metadata_sources, then the compiler's parsers. Errors are prefixed with the file name.
Result<metadata::Metadata> load_metadata_path(const std::string& path);

}  // namespace liveql::server
