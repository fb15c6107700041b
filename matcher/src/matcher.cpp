#include "liveql/matcher/matcher.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <optional>
#include <set>
#include <unordered_set>
#include <utility>

namespace liveql::matcher {
namespace {

using deps::Predicate;
using deps::TableDependency;
using deps::TableRole;

// Index entries are never erased in place: removal and key replacement bump the subscriber's
// generation, stale entries are skipped on lookup, and the whole index is rebuilt once stale
// entries outnumber live ones. That keeps remove() O(1) even for a cohort of a million
// subscribers sharing one scan list.
struct Entry {
  SubscriberId id;
  uint32_t dep : 31;
  // Filed under the value its whole predicate (`col = $p`, nothing else) asks for: a change
  // found under that value affects it, without evaluating the predicate (dependency_affected
  // would say true: the index keys and the comparison canonicalise values alike).
  uint32_t sure : 1;
  uint32_t gen;
};

// Open addressing: a lookup touches one group of slots, not a bucket, a node and its key
// apart (node-based maps made the lookups ~40 % of matching under load, mostly cache misses).
template <class K, class V>
using FlatMap = boost::unordered_flat_map<K, V>;
// Most values have one entry (a subscriber's own row, a result key): kept in the slot, not behind
// a pointer.
using EntriesByValue = FlatMap<std::string, boost::container::small_vector<Entry, 1>>;

struct ColumnIndex {
  std::string column;
  std::string type;
  EntriesByValue by_value;
};

struct KeyShape {
  std::vector<std::string> columns;
  EntriesByValue by_values;  // Entry::dep unused
};

struct TableIndex {
  std::vector<ColumnIndex> regular;  // deps whose old image matters only when complete
  std::vector<ColumnIndex> old_rel;  // old_image_relevant deps
  // Filter-only deps with link columns (relationship filters), by link columns: their old
  // image matters when it lacks the link columns (the row may have left by changing them).
  std::map<std::vector<std::string>, std::vector<ColumnIndex>> filter_links;
  std::vector<Entry> scan;             // root/filter-only deps without an indexable conjunct
  std::vector<Entry> linked;           // every linked dep
  std::vector<Entry> linked_all_rows;  // linked deps with all_rows_relevant
  std::set<std::string> linked_columns;
  std::set<std::string> linked_all_rows_columns;
  std::map<std::vector<std::string>, KeyShape> shapes;
};

struct Subscriber {
  std::shared_ptr<const deps::Dependencies> deps;
  ParamValues params;
  std::vector<std::string> keys;  // "table\0values" per shape, see key_id(); sorted unique
  uint32_t gen = 0;
  uint32_t keys_gen = 0;
  uint32_t entries = 0;
  uint32_t key_entries = 0;
};

bool is_old_image(ChangeKind k) { return k == ChangeKind::kUpdate || k == ChangeKind::kDelete; }
bool is_new_image(ChangeKind k) { return k == ChangeKind::kInsert || k == ChangeKind::kUpdate; }

std::string table_key(const RowChange& c) { return c.schema + "." + c.table; }

bool has_all(const RowImage& image, const std::vector<std::string>& columns) {
  for (const auto& c : columns)
    if (!image.find(c)) return false;
  return true;
}

// Length-prefixed, so no value can forge a separator.
void append_part(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

std::optional<std::string> values_id(const RowImage& image,
                                     const std::vector<std::string>& columns) {
  std::string id;
  for (const auto& c : columns) {
    const ColumnValue* v = image.find(c);
    if (!v || !v->value) return std::nullopt;
    append_part(id, *v->value);
  }
  return id;
}

std::string key_id(std::string_view table, const std::vector<std::string>& columns,
                   std::string_view values) {
  std::string id;
  append_part(id, table);
  for (const auto& c : columns) append_part(id, c);
  id += '|';
  id += values;
  return id;
}

struct ParsedKeyId {
  std::string table;
  std::vector<std::string> columns;
  std::string values;
};

ParsedKeyId parse_key_id(const std::string& k) {
  ParsedKeyId out;
  size_t pos = 0;
  bool first = true;
  while (pos < k.size() && k[pos] != '|') {
    size_t colon = k.find(':', pos);
    size_t len = std::stoul(k.substr(pos, colon - pos));
    std::string part = k.substr(colon + 1, len);
    if (first) {
      out.table = std::move(part);
      first = false;
    } else {
      out.columns.push_back(std::move(part));
    }
    pos = colon + 1 + len;
  }
  out.values = k.substr(pos + 1);
  return out;
}

bool may_be_true(const Predicate& p, const RowImage& image, const ParamValues& params) {
  return evaluate(p, image, params) != Truth::kFalse;
}

// The specification of rule 4 for one dependency, result keys aside. Both the indexed and the
// brute-force paths decide with this function, so they can only differ in whom they ask.
bool dependency_affected(const TableDependency& d, const ParamValues& params, const RowChange& c) {
  if (c.kind == ChangeKind::kTruncate) return true;
  if (d.role == TableRole::kLinked) {
    if (is_new_image(c.kind) && !has_all(c.new_row, d.link_columns)) return true;
    if (is_old_image(c.kind) && d.all_rows_relevant && !has_all(c.old_row, d.link_columns))
      return true;
    return false;
  }
  if (is_new_image(c.kind) && may_be_true(d.predicate, c.new_row, params)) return true;
  if (is_old_image(c.kind)) {
    // A related row of a relationship filter may leave it by changing its link columns: when
    // the old image does not show them (DEFAULT identity), only its predicate can tell.
    bool link_unknown = d.role == TableRole::kFilterOnly && !has_all(c.old_row, d.link_columns);
    if (d.old_image_relevant || link_unknown || has_all(c.old_row, d.predicate_columns))
      return may_be_true(d.predicate, c.old_row, params);
  }
  return false;
}

// A row of `table` whose `columns` equal one of the subscriber's result keys.
bool key_hit_affects(const Subscriber& s, std::string_view table,
                     const std::vector<std::string>& columns, const RowImage& image) {
  bool linked = false;
  for (const auto& d : s.deps->tables) {
    if (d.table_key != table || d.link_columns != columns) continue;
    if (d.role != TableRole::kLinked || d.link_columns == d.primary_key) return true;
    linked = true;
    if (may_be_true(d.predicate, image, s.params)) return true;
  }
  return !linked;
}

void flatten_and(const Predicate& p, std::vector<const Predicate*>& out) {
  if (p.kind == Predicate::Kind::kAnd) {
    for (const auto& c : p.children) flatten_and(c, out);
  } else {
    out.push_back(&p);
  }
}

struct IndexChoice {
  enum class Kind { kScan, kNever, kColumn } kind = Kind::kScan;
  const Predicate* conjunct = nullptr;
  std::vector<std::string> values;
};

// Picks the top-level conjunct to index a dependency under: the first `_eq`, else the first
// `_in`, whose parameter has a canonical key. A false conjunct means the predicate is never
// TRUE (only truncates and keys can affect it).
IndexChoice choose_index(const Predicate& p, const ParamValues& params) {
  std::vector<const Predicate*> conjuncts;
  flatten_and(p, conjuncts);
  IndexChoice best;
  for (const Predicate* c : conjuncts) {
    if (c->kind == Predicate::Kind::kFalse)
      return IndexChoice{IndexChoice::Kind::kNever, nullptr, {}};
    if (c->kind != Predicate::Kind::kCompare || c->slot < 0 ||
        static_cast<size_t>(c->slot) >= params.size())
      continue;
    const auto& param = params[static_cast<size_t>(c->slot)];
    if (c->op == ir::CompareOp::kEq) {
      if (auto key = param_key(c->column_type, param)) {
        return IndexChoice{IndexChoice::Kind::kColumn, c, {std::move(*key)}};
      }
    } else if (c->op == ir::CompareOp::kIn && best.kind == IndexChoice::Kind::kScan &&
               param.is_array()) {
      IndexChoice choice{IndexChoice::Kind::kColumn, c, {}};
      bool ok = true;
      for (const auto& element : param.get_array()) {
        if (element.is_null()) continue;  // NULL never equals: it cannot make the row TRUE
        auto key = param_key(c->column_type, element);
        if (!key) {
          ok = false;
          break;
        }
        choice.values.push_back(std::move(*key));
      }
      if (ok) {
        std::sort(choice.values.begin(), choice.values.end());
        choice.values.erase(std::unique(choice.values.begin(), choice.values.end()),
                            choice.values.end());
        best = std::move(choice);
      }
    }
  }
  return best;
}

ColumnIndex& column_index(std::vector<ColumnIndex>& list, const std::string& column,
                          const std::string& type) {
  for (auto& ci : list)
    if (ci.column == column && ci.type == type) return ci;
  list.push_back(ColumnIndex{column, type, {}});
  return list.back();
}

}  // namespace

IndexUse index_use(const TableDependency& d, const ParamValues& params) {
  if (d.role == TableRole::kLinked) return IndexUse{IndexUse::Kind::kLink, {}, {}};
  IndexChoice choice = choose_index(d.predicate, params);
  switch (choice.kind) {
    case IndexChoice::Kind::kNever:
      return IndexUse{IndexUse::Kind::kNever, {}, {}};
    case IndexChoice::Kind::kScan:
      return IndexUse{IndexUse::Kind::kScan, {}, {}};
    case IndexChoice::Kind::kColumn:
      break;
  }
  return IndexUse{IndexUse::Kind::kColumn, choice.conjunct->column, choice.conjunct->op};
}

struct Matcher::Impl {
  FlatMap<SubscriberId, Subscriber> subs;  // no reference to a subscriber outlives an insert
  std::unordered_map<std::string, TableIndex> tables;
  uint32_t next_gen = 1;
  size_t live_entries = 0;
  size_t dead_entries = 0;

  const Subscriber* valid(const Entry& e) const {
    auto it = subs.find(e.id);
    if (it == subs.end() || it->second.gen != e.gen) return nullptr;
    return &it->second;
  }
  const Subscriber* valid_keys(const Entry& e) const {
    auto it = subs.find(e.id);
    if (it == subs.end() || it->second.keys_gen != e.gen) return nullptr;
    return &it->second;
  }

  void index_dependencies(SubscriberId id, Subscriber& s) {
    s.entries = 0;
    const auto& tables_list = s.deps->tables;
    for (uint32_t i = 0; i < tables_list.size(); ++i) {
      const TableDependency& d = tables_list[i];
      TableIndex& ti = tables[d.table_key];
      Entry e{id, i, 0, s.gen};
      if (d.role == TableRole::kLinked) {
        ti.linked.push_back(e);
        ti.linked_columns.insert(d.link_columns.begin(), d.link_columns.end());
        ++s.entries;
        if (d.all_rows_relevant) {
          ti.linked_all_rows.push_back(e);
          ti.linked_all_rows_columns.insert(d.link_columns.begin(), d.link_columns.end());
          ++s.entries;
        }
        continue;
      }
      IndexChoice choice = choose_index(d.predicate, s.params);
      if (choice.kind == IndexChoice::Kind::kNever) continue;
      if (choice.kind == IndexChoice::Kind::kScan) {
        ti.scan.push_back(e);
        ++s.entries;
        continue;
      }
      auto& list = d.old_image_relevant ? ti.old_rel
                   : d.role == TableRole::kFilterOnly && !d.link_columns.empty()
                       ? ti.filter_links[d.link_columns]
                       : ti.regular;
      ColumnIndex& ci = column_index(list, choice.conjunct->column, choice.conjunct->column_type);
      e.sure = choice.conjunct == &d.predicate && d.predicate.op == ir::CompareOp::kEq;
      for (auto& v : choice.values) {
        ci.by_value[std::move(v)].push_back(e);
        ++s.entries;
      }
    }
    live_entries += s.entries;
  }

  void index_keys(SubscriberId id, Subscriber& s, const ResultKeys& keys) {
    s.keys.clear();
    s.key_entries = 0;
    for (const auto& k : keys) {
      std::string values;
      bool has_null = false;
      for (const auto& v : k.values) {
        if (!v) {
          has_null = true;  // equals no row
          break;
        }
        append_part(values, *v);
      }
      if (has_null || k.columns.size() != k.values.size()) continue;
      std::string id_text = key_id(k.table, k.columns, values);
      auto pos = std::lower_bound(s.keys.begin(), s.keys.end(), id_text);
      if (pos != s.keys.end() && *pos == id_text) continue;
      s.keys.insert(pos, id_text);
      index_key(id, s, k.table, k.columns, values);
    }
    live_entries += s.key_entries;
  }

  // Files one result key (its values as values_id() writes them), unless the subscriber's own
  // predicate already finds every change that would hit it: its whole predicate on that table is
  // `col = $p` (a sure entry) and the key is that column at that value (the seed scenario's
  // `items(where: {id: {_eq: $id}})`). Such a key would only cost a lookup per change.
  void index_key(SubscriberId id, Subscriber& s, const std::string& table,
                 const std::vector<std::string>& columns, const std::string& values) {
    if (covered(s, table, columns, values)) return;
    KeyShape& shape = tables[table].shapes[columns];
    if (shape.columns.empty()) shape.columns = columns;
    shape.by_values[values].push_back(Entry{id, 0, 0, s.keys_gen});
    ++s.key_entries;
  }

  static bool covered(const Subscriber& s, std::string_view table,
                      const std::vector<std::string>& columns, std::string_view values) {
    if (columns.size() != 1) return false;
    const auto colon = values.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view text = values.substr(colon + 1);
    if (values.substr(0, colon) != std::to_string(text.size())) return false;  // one part only
    for (const auto& d : s.deps->tables) {
      const Predicate& p = d.predicate;
      if (d.table_key != table || d.role == TableRole::kLinked ||
          p.kind != Predicate::Kind::kCompare || p.op != ir::CompareOp::kEq ||
          p.column != columns[0] || p.slot < 0 || static_cast<size_t>(p.slot) >= s.params.size())
        continue;
      auto want = param_key(p.column_type, s.params[static_cast<size_t>(p.slot)]);
      auto have = value_key(p.column_type, text);
      if (want && have && *want == *have) return true;
    }
    return false;
  }

  void retire(size_t n) {
    live_entries -= n;
    dead_entries += n;
    if (dead_entries > 4096 && dead_entries > live_entries) rebuild();
  }

  void rebuild() {
    tables.clear();
    live_entries = 0;
    dead_entries = 0;
    for (auto& [id, s] : subs) {
      index_dependencies(id, s);
      // Re-index the keys from their ids: the values part follows the '|' separator.
      s.key_entries = 0;
      for (const auto& k : s.keys) {
        ParsedKeyId parsed = parse_key_id(k);
        index_key(id, s, parsed.table, parsed.columns, parsed.values);
      }
      live_entries += s.key_entries;
    }
  }

  // What one image asks of a column index: nothing, the entries under one value, or all of them
  // (the column is absent and may hold anything, or its value has no canonical key).
  struct Lookup {
    enum class Kind { kNone, kValue, kAll } kind = Kind::kNone;
    std::string key;
  };

  static Lookup lookup(const ColumnIndex& ci, const RowImage* image, bool absent_means_all) {
    if (!image) return {};
    const ColumnValue* v = image->find(ci.column);
    if (!v) return absent_means_all ? Lookup{Lookup::Kind::kAll, {}} : Lookup{};
    if (!v->value) return {};  // NULL equals nothing
    if (auto key = value_key(ci.type, *v->value)) return {Lookup::Kind::kValue, std::move(*key)};
    return {Lookup::Kind::kAll, {}};
  }

  // The entries of `ci` either image may affect: to `candidates` to be evaluated, or straight
  // to `affected` when they are sure (found under their value). An update that keeps the
  // column's value (the common case: a row's other columns change) looks it up once, not once
  // per image.
  void collect_column(const ColumnIndex& ci, const RowImage* new_image, bool new_absent_means_all,
                      const RowImage* old_image, bool old_absent_means_all,
                      std::vector<Entry>& candidates, std::vector<SubscriberId>& affected) const {
    const Lookup a = lookup(ci, new_image, new_absent_means_all);
    const Lookup b = lookup(ci, old_image, old_absent_means_all);
    if (a.kind == Lookup::Kind::kAll || b.kind == Lookup::Kind::kAll) {
      for (const auto& [value, entries] : ci.by_value)
        candidates.insert(candidates.end(), entries.begin(), entries.end());
      return;
    }
    for (const Lookup* l : {&a, &b}) {
      if (l->kind != Lookup::Kind::kValue) continue;
      if (l == &b && a.kind == Lookup::Kind::kValue && a.key == b.key) continue;
      auto it = ci.by_value.find(l->key);
      if (it == ci.by_value.end()) continue;
      for (const Entry& e : it->second) {
        if (!e.sure) {
          candidates.push_back(e);
        } else if (valid(e)) {
          affected.push_back(e.id);
        }
      }
    }
  }

  static bool lacks_any(const RowImage& image, const std::set<std::string>& columns) {
    for (const auto& c : columns)
      if (!image.find(c)) return true;
    return false;
  }

  void match(const RowChange& c, std::vector<SubscriberId>& out) const {
    const std::string table = table_key(c);
    if (c.kind == ChangeKind::kTruncate) {
      for (const auto& [id, s] : subs) {
        for (const auto& d : s.deps->tables) {
          if (d.table_key == table) {
            out.push_back(id);
            break;
          }
        }
      }
      return;
    }
    auto tit = tables.find(table);
    if (tit == tables.end()) return;
    const TableIndex& ti = tit->second;

    const std::size_t first = out.size();  // this change's answer starts here
    const RowImage* new_image = is_new_image(c.kind) ? &c.new_row : nullptr;
    const RowImage* old_image = is_old_image(c.kind) ? &c.old_row : nullptr;
    std::vector<Entry> candidates;
    for (const auto& ci : ti.regular)
      collect_column(ci, new_image, true, old_image, false, candidates, out);
    for (const auto& ci : ti.old_rel)
      collect_column(ci, new_image, true, old_image, true, candidates, out);
    for (const auto& [links, list] : ti.filter_links) {
      const bool link_unknown = old_image && !has_all(*old_image, links);
      for (const auto& ci : list)
        collect_column(ci, new_image, true, old_image, link_unknown, candidates, out);
    }
    if (new_image && lacks_any(*new_image, ti.linked_columns))
      candidates.insert(candidates.end(), ti.linked.begin(), ti.linked.end());
    if (old_image && lacks_any(*old_image, ti.linked_all_rows_columns))
      candidates.insert(candidates.end(), ti.linked_all_rows.begin(), ti.linked_all_rows.end());
    candidates.insert(candidates.end(), ti.scan.begin(), ti.scan.end());
    for (const Entry& e : candidates) {
      const Subscriber* s = valid(e);
      if (s && dependency_affected(s->deps->tables[e.dep], s->params, c)) out.push_back(e.id);
    }
    // A key hit of a subscriber this change already affects adds nothing: skipped while this
    // change's answer is short enough to look through (the seed scenario: one subscriber).
    const std::size_t answered = out.size();
    const auto known = [&](SubscriberId id) {
      if (answered - first > 8) return false;
      for (std::size_t i = first; i < answered; ++i)
        if (out[i] == id) return true;
      return false;
    };

    // Result keys. An update that keeps the key's values looks them up once; each image still
    // decides for itself (a linked dependency's predicate may hold on one image only).
    for (const auto& [columns, shape] : ti.shapes) {
      std::optional<std::string> new_values;
      if (new_image) new_values = values_id(*new_image, columns);
      std::optional<std::string> old_values;
      if (old_image) old_values = values_id(*old_image, columns);
      const bool same = new_values && old_values && *new_values == *old_values;
      for (const auto* values : {&new_values, &old_values}) {
        if (!*values || (same && values == &old_values)) continue;
        auto it = shape.by_values.find(**values);
        if (it == shape.by_values.end()) continue;
        for (const Entry& e : it->second) {
          if (known(e.id)) continue;
          const Subscriber* s = valid_keys(e);
          if (!s) continue;
          const bool hit = values == &new_values
                               ? key_hit_affects(*s, table, columns, *new_image) ||
                                     (same && key_hit_affects(*s, table, columns, *old_image))
                               : key_hit_affects(*s, table, columns, *old_image);
          if (hit) out.push_back(e.id);
        }
      }
    }
  }

  bool brute_force(const Subscriber& s, const RowChange& c) const {
    const std::string table = table_key(c);
    for (const auto& d : s.deps->tables)
      if (d.table_key == table && dependency_affected(d, s.params, c)) return true;
    if (c.kind == ChangeKind::kTruncate) return false;
    // Every result-key shape the subscriber holds for this table, tried on both images.
    std::set<std::vector<std::string>> shapes;
    for (const auto& k : s.keys) {
      ParsedKeyId parsed = parse_key_id(k);
      if (parsed.table == table) shapes.insert(std::move(parsed.columns));
    }
    for (const auto& columns : shapes) {
      for (const RowImage* image : {is_new_image(c.kind) ? &c.new_row : nullptr,
                                    is_old_image(c.kind) ? &c.old_row : nullptr}) {
        if (!image) continue;
        auto values = values_id(*image, columns);
        if (!values) continue;
        if (std::binary_search(s.keys.begin(), s.keys.end(), key_id(table, columns, *values)) &&
            key_hit_affects(s, table, columns, *image))
          return true;
      }
    }
    return false;
  }
};

Matcher::Matcher() : impl_(std::make_unique<Impl>()) {}
Matcher::~Matcher() = default;

Status Matcher::add(SubscriberId id, std::shared_ptr<const deps::Dependencies> deps,
                    const boost::json::object& vars) {
  if (!deps) return make_error(ErrorCode::kUnexpected, "matcher: no dependencies");
  auto [it, inserted] = impl_->subs.try_emplace(id);
  if (!inserted) return make_error(ErrorCode::kUnexpected, "matcher: subscriber already added");
  Subscriber& s = it->second;
  s.params = bind_params(*deps, vars);
  s.deps = std::move(deps);
  s.gen = impl_->next_gen++;
  s.keys_gen = impl_->next_gen++;
  impl_->index_dependencies(id, s);
  return Ok{};
}

bool Matcher::remove(SubscriberId id) {
  auto it = impl_->subs.find(id);
  if (it == impl_->subs.end()) return false;
  size_t n = it->second.entries + it->second.key_entries;
  impl_->subs.erase(it);
  impl_->retire(n);
  return true;
}

Status Matcher::set_result_keys(SubscriberId id, const ResultKeys& keys) {
  auto it = impl_->subs.find(id);
  if (it == impl_->subs.end())
    return make_error(ErrorCode::kUnexpected, "matcher: unknown subscriber");
  Subscriber& s = it->second;
  size_t old = s.key_entries;
  s.keys_gen = impl_->next_gen++;
  impl_->index_keys(id, s, keys);
  impl_->retire(old);
  return Ok{};
}

std::vector<SubscriberId> Matcher::affected(const RowChange& change) const {
  std::vector<SubscriberId> out;
  impl_->match(change, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<SubscriberId> Matcher::affected(const Transaction& txn) const {
  std::vector<SubscriberId> out;
  for (const auto& c : txn.changes) impl_->match(c, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<SubscriberId> Matcher::affected_brute_force(const Transaction& txn) const {
  std::vector<SubscriberId> out;
  for (const auto& [id, s] : impl_->subs) {
    for (const auto& c : txn.changes) {
      if (impl_->brute_force(s, c)) {
        out.push_back(id);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

size_t Matcher::size() const { return impl_->subs.size(); }

}  // namespace liveql::matcher
