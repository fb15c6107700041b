#include "liveql/state/state_store.hpp"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <charconv>
#include <filesystem>
#include <system_error>
#include <vector>

namespace liveql::state {
namespace {

namespace fs = std::filesystem;

// Keys. The format key is written when a store is created; its absence means the RocksDB belongs
// to someone else.
constexpr std::string_view kFormatKey = "liveql/format";
constexpr std::string_view kFormatMagic = "liveql-state";
constexpr std::string_view kSlotPrefix = "slot/";
constexpr std::string_view kTableModePrefix = "table_mode/";

Error state_error(std::string message) {
  return make_error(ErrorCode::kUnexpected, std::move(message), "$");
}

Error rocks_error(const std::string& dir, std::string_view what, const rocksdb::Status& s) {
  std::string hint;
  if (s.IsCorruption()) hint = " (the state directory is corrupt; move it away to start afresh)";
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
    hint = " (is another liveql using the same --state-dir?)";
  return state_error(fmt::format("state store {}: {}: {}{}", dir, what, s.ToString(), hint));
}

// Records are a sequence of length-prefixed fields ("<len>:<bytes>"), so that any byte may appear
// in a name and a truncated or foreign value is detected instead of misread.
void put_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out.append(field);
}

class FieldReader {
 public:
  explicit FieldReader(std::string_view in) : in_(in) {}
  std::optional<std::string_view> next() {
    auto colon = in_.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) return {};
    size_t len = 0;
    auto [p, ec] = std::from_chars(in_.data(), in_.data() + colon, len);
    if (ec != std::errc() || p != in_.data() + colon || len > in_.size() - colon - 1) return {};
    auto field = in_.substr(colon + 1, len);
    in_.remove_prefix(colon + 1 + len);
    return field;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return {};
  return v;
}

std::string encode_record(const SlotRecord& r) {
  std::string out;
  put_field(out, "1");  // record layout version
  put_field(out, r.slot_name);
  put_field(out, r.system_identifier);
  put_field(out, std::to_string(r.timeline));
  put_field(out, r.database);
  put_field(out, std::to_string(r.confirmed_lsn));
  return out;
}

std::optional<SlotRecord> decode_record(std::string_view in) {
  FieldReader reader(in);
  std::vector<std::string_view> f;
  while (!reader.done()) {
    auto field = reader.next();
    if (!field) return {};
    f.push_back(*field);
  }
  if (f.size() != 6 || f[0] != "1") return {};
  auto timeline = parse_number<uint32_t>(f[3]);
  auto lsn = parse_number<uint64_t>(f[5]);
  if (!timeline || !lsn) return {};
  return SlotRecord{std::string(f[1]), std::string(f[2]), *timeline, std::string(f[4]), *lsn};
}

std::string key(std::string_view prefix, std::string_view name) {
  std::string k(prefix);
  k.append(name);
  return k;
}

}  // namespace

struct StateStore::Db {
  std::unique_ptr<rocksdb::DB> db;
};

StateStore::StateStore(std::string dir, std::unique_ptr<Db> db)
    : dir_(std::move(dir)), db_(std::move(db)) {}

StateStore::~StateStore() = default;

namespace {

// Checks (or, in a fresh store, writes) the format key: a store of another program or of a
// newer liveql is refused.
Status check_format(rocksdb::DB& db, const std::string& dir, bool fresh) {
  const std::string expected = fmt::format("{} {}", kFormatMagic, StateStore::kFormatVersion);
  std::string format;
  rocksdb::Status s =
      db.Get(rocksdb::ReadOptions(), rocksdb::Slice(kFormatKey.data(), kFormatKey.size()), &format);
  if (s.IsNotFound()) {
    if (!fresh)
      return state_error(fmt::format(
          "state store {}: this RocksDB was not written by liveql (no format key)", dir));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db.Put(wo, rocksdb::Slice(kFormatKey.data(), kFormatKey.size()), expected);
    if (!s.ok()) return rocks_error(dir, "cannot initialise", s);
  } else if (!s.ok()) {
    return rocks_error(dir, "cannot read the format key", s);
  } else if (format != expected) {
    std::string_view f = format;
    if (f.substr(0, kFormatMagic.size() + 1) != fmt::format("{} ", kFormatMagic))
      return state_error(fmt::format("state store {}: unrecognised format key '{}'", dir, format));
    auto version = parse_number<int>(f.substr(kFormatMagic.size() + 1));
    if (!version)
      return state_error(fmt::format("state store {}: unrecognised format key '{}'", dir, format));
    if (*version > StateStore::kFormatVersion)
      return state_error(fmt::format(
          "state store {}: written by a newer liveql (format {}, this build reads up to {})", dir,
          *version, StateStore::kFormatVersion));
    return state_error(
        fmt::format("state store {}: format {} is not supported by this build", dir, *version));
  }
  return Ok{};
}

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::open(const std::string& dir) {
  std::error_code ec;
  auto status = fs::status(dir, ec);
  bool fresh = false;
  if (ec || !fs::exists(status)) {
    fs::create_directories(dir, ec);
    if (ec) return state_error(fmt::format("state store {}: cannot create: {}", dir, ec.message()));
    fresh = true;
  } else if (!fs::is_directory(status)) {
    return state_error(fmt::format("state store {}: exists and is not a directory", dir));
  } else {
    fresh = fs::is_empty(dir, ec);
    if (ec) return state_error(fmt::format("state store {}: cannot read: {}", dir, ec.message()));
    // RocksDB would happily create a database among unrelated files: refuse instead.
    if (!fresh && !fs::exists(fs::path(dir) / "CURRENT", ec))
      return state_error(fmt::format(
          "state store {}: the directory is not empty and is not a liveql state directory", dir));
  }

  rocksdb::Options options;
  options.create_if_missing = fresh;
  options.error_if_exists = fresh;
  options.paranoid_checks = true;
  options.keep_log_file_num = 2;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return rocks_error(dir, "cannot open", s);
  auto db = std::make_unique<Db>();
  db->db.reset(raw);

  if (auto st = check_format(*db->db, dir, fresh); !st.ok()) return st.error();
  return std::unique_ptr<StateStore>(new StateStore(dir, std::move(db)));
}

Result<std::unique_ptr<StateStore>> StateStore::open_read_only(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || !fs::exists(fs::path(dir) / "CURRENT", ec))
    return state_error(fmt::format("state store {}: not a liveql state directory", dir));
  rocksdb::Options options;
  options.paranoid_checks = true;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, dir, &raw);
  if (!s.ok()) return rocks_error(dir, "cannot open read-only", s);
  auto db = std::make_unique<Db>();
  db->db.reset(raw);
  if (auto st = check_format(*db->db, dir, false); !st.ok()) return st.error();
  return std::unique_ptr<StateStore>(new StateStore(dir, std::move(db)));
}

Result<std::optional<SlotRecord>> StateStore::load(std::string_view slot_name) const {
  std::string value;
  auto s = db_->db->Get(rocksdb::ReadOptions(), key(kSlotPrefix, slot_name), &value);
  if (s.IsNotFound()) return std::optional<SlotRecord>();
  if (!s.ok()) return rocks_error(dir_, "cannot read slot record", s);
  auto record = decode_record(value);
  if (!record || record->slot_name != slot_name)
    return state_error(
        fmt::format("state store {}: the record of slot '{}' is unreadable", dir_, slot_name));
  return std::optional<SlotRecord>(std::move(*record));
}

namespace {
Status write(rocksdb::DB& db, const std::string& dir, rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = db.Write(wo, &batch);
  if (!s.ok()) return rocks_error(dir, "write failed", s);
  return Ok{};
}
}  // namespace

Status StateStore::save(const SlotRecord& record) {
  if (record.slot_name.empty()) return state_error("state store: a slot record needs a slot name");
  rocksdb::WriteBatch batch;
  batch.Put(key(kSlotPrefix, record.slot_name), encode_record(record));
  return write(*db_->db, dir_, batch);
}

Status StateStore::erase(std::string_view slot_name) {
  rocksdb::WriteBatch batch;
  batch.Delete(key(kSlotPrefix, slot_name));
  return write(*db_->db, dir_, batch);
}

Status StateStore::set_table_mode(std::string_view table, LiveMode mode) {
  if (table.empty()) return state_error("state store: a table mode needs a table name");
  rocksdb::WriteBatch batch;
  batch.Put(key(kTableModePrefix, table), live_mode_name(mode));
  return write(*db_->db, dir_, batch);
}

Status StateStore::clear_table_mode(std::string_view table) {
  rocksdb::WriteBatch batch;
  batch.Delete(key(kTableModePrefix, table));
  return write(*db_->db, dir_, batch);
}

Result<std::map<std::string, LiveMode>> StateStore::table_modes() const {
  std::map<std::string, LiveMode> modes;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  const rocksdb::Slice prefix(kTableModePrefix.data(), kTableModePrefix.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto mode = parse_live_mode(it->value().ToStringView());
    std::string table = it->key().ToString().substr(kTableModePrefix.size());
    if (!mode)
      return state_error(fmt::format("state store {}: unreadable mode '{}' for table {}", dir_,
                                     it->value().ToString(), table));
    modes.emplace(std::move(table), *mode);
  }
  if (!it->status().ok()) return rocks_error(dir_, "cannot list table modes", it->status());
  return modes;
}

}  // namespace liveql::state
