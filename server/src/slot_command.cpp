#include "slot_command.hpp"

#include <libpq-fe.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "liveql/base/row_change.hpp"
#include "liveql/replication/pg_text.hpp"
#include "liveql/state/state_store.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::string trimmed(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

Result<Conn> connect(const std::string& url) {
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {url.c_str(), "liveql-slot", nullptr};
  Conn conn(PQconnectdbParams(keys, values, 1));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    return make_error(ErrorCode::kPostgresError,
                      "cannot connect to the database: " +
                          trimmed(conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  return conn;
}

// Runs one statement with text parameters; an error carries the server's message.
Result<PgResult> query(PGconn* conn, const std::string& sql,
                       const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult r(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0));
  auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    return make_error(ErrorCode::kPostgresError,
                      trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn)));
  }
  return r;
}

std::optional<std::string> field(PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return std::nullopt;
  return std::string(PQgetvalue(r, row, col));
}

// One row of pg_replication_slots, plus the server's current position.
struct SlotRow {
  std::string plugin;  // "" for a physical slot
  std::string slot_type;
  std::string database;  // "" for a physical slot
  bool active = false;
  std::optional<std::string> active_pid;
  std::optional<std::string> restart_lsn;
  std::optional<std::string> confirmed_flush_lsn;
  std::optional<std::string> lag_bytes;       // pg_current_wal_lsn() - confirmed_flush_lsn
  std::optional<std::string> retained_bytes;  // pg_current_wal_lsn() - restart_lsn
  std::optional<std::string> wal_status;
};

struct ServerInfo {
  std::string database;
  std::string current_lsn;
  std::optional<std::string> system_identifier;  // needs pg_control_system(): may be denied
  std::optional<std::string> timeline;
};

Result<ServerInfo> server_info(PGconn* conn) {
  auto r = query(conn, "select current_database(), pg_current_wal_lsn()::text");
  if (!r) return r.take_error();
  ServerInfo info;
  info.database = PQgetvalue(r->get(), 0, 0);
  info.current_lsn = PQgetvalue(r->get(), 0, 1);
  // Compared with the state dir's record; without the privilege the comparison is skipped.
  auto id = query(conn,
                  "select s.system_identifier::text, c.timeline_id::text "
                  "from pg_control_system() s, pg_control_checkpoint() c");
  if (id && PQntuples(id->get()) == 1) {
    info.system_identifier = field(id->get(), 0, 0);
    info.timeline = field(id->get(), 0, 1);
  }
  return info;
}

Result<std::optional<SlotRow>> find_slot(PGconn* conn, const std::string& name) {
  auto r = query(conn,
                 "select coalesce(plugin, ''), slot_type, coalesce(database::text, ''), active, "
                 "active_pid::text, restart_lsn::text, confirmed_flush_lsn::text, "
                 "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text, "
                 "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text, wal_status "
                 "from pg_replication_slots where slot_name = $1",
                 {name});
  if (!r) return r.take_error();
  if (PQntuples(r->get()) == 0) return std::optional<SlotRow>();
  PGresult* res = r->get();
  SlotRow s;
  s.plugin = PQgetvalue(res, 0, 0);
  s.slot_type = PQgetvalue(res, 0, 1);
  s.database = PQgetvalue(res, 0, 2);
  s.active = std::string(PQgetvalue(res, 0, 3)) == "t";
  s.active_pid = field(res, 0, 4);
  s.restart_lsn = field(res, 0, 5);
  s.confirmed_flush_lsn = field(res, 0, 6);
  s.lag_bytes = field(res, 0, 7);
  s.retained_bytes = field(res, 0, 8);
  s.wal_status = field(res, 0, 9);
  return std::optional<SlotRow>(std::move(s));
}

// What the state dir says about the slot. `problem` is set when the directory could not be
// read (missing, not a liveql store); `record` when it holds one.
struct StateView {
  bool exists = false;
  std::string problem;
  std::optional<state::SlotRecord> record;
};

bool is_empty_dir(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec);
}

// Reads without creating: a missing or empty directory is reported, not initialised.
StateView read_state(const Config& config) {
  StateView v;
  std::error_code ec;
  if (!std::filesystem::exists(config.state_dir, ec)) {
    v.problem = "does not exist";
    return v;
  }
  v.exists = true;
  if (is_empty_dir(config.state_dir)) return v;
  // Read-only: works while a running liveql holds the store's lock, and never writes.
  auto store = state::StateStore::open_read_only(config.state_dir);
  if (!store) {
    v.problem = store.error().message;
    return v;
  }
  auto record = (*store)->load(config.slot_name);
  if (!record) {
    v.problem = record.error().message;
    return v;
  }
  v.record = std::move(*record);
  return v;
}

std::string or_null(const std::optional<std::string>& s) { return s ? *s : "null"; }

json::value json_or_null(const std::optional<std::string>& s) {
  if (!s) return nullptr;
  return json::value(*s);
}

// A bigint column as a JSON number; text that is not one is shown as the server sent it.
json::value json_number_or_null(const std::optional<std::string>& s) {
  if (!s) return nullptr;
  auto n = replication::parse_pg_integer<std::int64_t>(*s, "slot status");
  return n.ok() ? json::value(*n) : json::value(*s);
}

void print_text(const Config& config, const ServerInfo& info, const std::optional<SlotRow>& slot,
                const StateView& st, std::ostream& out) {
  out << "slot " << config.slot_name << ": ";
  if (!slot) {
    out << "does not exist in database " << info.database << " (liveql creates it on start)\n";
  } else {
    out << "exists\n";
    out << "  type:                " << slot->slot_type << "\n";
    if (!slot->plugin.empty()) out << "  plugin:              " << slot->plugin << "\n";
    if (!slot->database.empty()) out << "  database:            " << slot->database << "\n";
    out << "  active:              " << (slot->active ? "yes" : "no");
    if (slot->active_pid) out << " (walsender pid " << *slot->active_pid << ")";
    out << "\n";
    out << "  restart_lsn:         " << or_null(slot->restart_lsn) << "\n";
    out << "  confirmed_flush_lsn: " << or_null(slot->confirmed_flush_lsn) << "\n";
    out << "  current wal lsn:     " << info.current_lsn << "\n";
    out << "  lag:                 " << or_null(slot->lag_bytes)
        << " bytes (pg_current_wal_lsn() - confirmed_flush_lsn)\n";
    out << "  retained wal:        " << or_null(slot->retained_bytes)
        << " bytes (pg_current_wal_lsn() - restart_lsn)\n";
    if (slot->wal_status) out << "  wal_status:          " << *slot->wal_status << "\n";
  }
  out << "state dir " << config.state_dir << ": ";
  if (!st.problem.empty()) {
    out << st.problem << "\n";
  } else if (!st.record) {
    out << "no record for slot " << config.slot_name << "\n";
  } else {
    const auto& r = *st.record;
    out << "record for slot " << r.slot_name << "\n";
    out << "  system identifier:   " << r.system_identifier;
    if (info.system_identifier)
      out << (*info.system_identifier == r.system_identifier
                  ? " (this database)"
                  : " (NOT this database: " + *info.system_identifier + ")");
    out << "\n";
    out << "  timeline:            " << r.timeline << "\n";
    out << "  database:            " << r.database << "\n";
    out << "  matched up to lsn:   " << format_lsn(r.confirmed_lsn) << "\n";
  }
}

json::object to_json(const Config& config, const ServerInfo& info,
                     const std::optional<SlotRow>& slot, const StateView& st) {
  json::object o;
  o["slot_name"] = config.slot_name;
  o["database"] = info.database;
  o["current_wal_lsn"] = info.current_lsn;
  o["exists"] = slot.has_value();
  if (slot) {
    json::object s;
    s["slot_type"] = slot->slot_type;
    s["plugin"] = slot->plugin;
    s["database"] = slot->database;
    s["active"] = slot->active;
    s["active_pid"] = json_number_or_null(slot->active_pid);
    s["restart_lsn"] = json_or_null(slot->restart_lsn);
    s["confirmed_flush_lsn"] = json_or_null(slot->confirmed_flush_lsn);
    s["lag_bytes"] = json_number_or_null(slot->lag_bytes);
    s["retained_bytes"] = json_number_or_null(slot->retained_bytes);
    s["wal_status"] = json_or_null(slot->wal_status);
    o["slot"] = std::move(s);
  } else {
    o["slot"] = nullptr;
  }
  json::object state;
  state["dir"] = config.state_dir;
  state["exists"] = st.exists;
  state["error"] = st.problem.empty() ? json::value(nullptr) : json::value(st.problem);
  if (st.record) {
    json::object r;
    r["slot_name"] = st.record->slot_name;
    r["system_identifier"] = st.record->system_identifier;
    r["timeline"] = st.record->timeline;
    r["database"] = st.record->database;
    r["confirmed_lsn"] = format_lsn(st.record->confirmed_lsn);
    if (info.system_identifier)
      r["same_system"] = *info.system_identifier == st.record->system_identifier;
    state["record"] = std::move(r);
  } else {
    state["record"] = nullptr;
  }
  o["state"] = std::move(state);
  return o;
}

}  // namespace

int run_slot_status(const Config& config, bool as_json, std::ostream& out, std::ostream& err) {
  auto conn = connect(config.database_url);
  if (!conn) {
    err << "liveql slot status: " << conn.error().message << "\n";
    return 1;
  }
  auto info = server_info(conn->get());
  if (!info) {
    err << "liveql slot status: " << info.error().message << "\n";
    return 1;
  }
  auto slot = find_slot(conn->get(), config.slot_name);
  if (!slot) {
    err << "liveql slot status: pg_replication_slots: " << slot.error().message << "\n";
    return 1;
  }
  StateView st = read_state(config);
  if (as_json) {
    out << json::serialize(to_json(config, *info, *slot, st)) << "\n";
  } else {
    print_text(config, *info, *slot, st, out);
  }
  return slot->has_value() ? 0 : 1;
}

int run_slot_drop(const Config& config, std::ostream& out, std::ostream& err) {
  const std::string& name = config.slot_name;
  auto conn = connect(config.database_url);
  if (!conn) {
    err << "liveql slot drop: " << conn.error().message << "\n";
    return 1;
  }
  auto info = server_info(conn->get());
  if (!info) {
    err << "liveql slot drop: " << info.error().message << "\n";
    return 1;
  }
  auto slot = find_slot(conn->get(), name);
  if (!slot) {
    err << "liveql slot drop: pg_replication_slots: " << slot.error().message << "\n";
    return 1;
  }
  auto active_refusal = [&](const std::string& pid) {
    err << "liveql slot drop: slot " << name << " is active (walsender pid " << pid
        << "): a liveql is streaming from it. Stop that liveql (SIGTERM) first; nothing was "
           "dropped.\n";
    return 1;
  };
  if (*slot) {
    const SlotRow& s = **slot;
    if (s.slot_type != "logical" || s.plugin != "wal2json") {
      err << "liveql slot drop: slot " << name << " is a " << s.slot_type << " slot"
          << (s.plugin.empty() ? "" : " of plugin " + s.plugin)
          << ", not one liveql created (logical, wal2json); nothing was dropped.\n";
      return 1;
    }
    if (s.database != info->database) {
      err << "liveql slot drop: slot " << name << " belongs to database " << s.database << ", not "
          << info->database << "; connect to that database. Nothing was dropped.\n";
      return 1;
    }
    if (s.active) return active_refusal(or_null(s.active_pid));
  }

  // The state dir is opened before the slot is dropped, so that a locked or foreign directory
  // stops the command while nothing has changed yet.
  std::unique_ptr<state::StateStore> store;
  std::error_code ec;
  if (std::filesystem::exists(config.state_dir, ec) && !is_empty_dir(config.state_dir)) {
    auto opened = state::StateStore::open(config.state_dir);
    if (!opened) {
      err << "liveql slot drop: state dir " << config.state_dir << ": " << opened.error().message
          << "; nothing was dropped.\n";
      return 1;
    }
    store = std::move(*opened);
  }

  if (*slot) {
    auto dropped = query(conn->get(), "select pg_drop_replication_slot($1)", {name});
    if (!dropped) {
      const std::string& m = dropped.error().message;
      if (m.find("is active") != std::string::npos) {
        // Became active since it was read: a liveql started meanwhile.
        auto again = find_slot(conn->get(), name);
        std::string pid = again && *again ? or_null((*again)->active_pid) : "?";
        return active_refusal(pid);
      }
      err << "liveql slot drop: " << m << "\n";
      return 1;
    }
    out << "dropped slot " << name << " in database " << info->database << "\n";
  } else {
    out << "slot " << name << " does not exist in database " << info->database
        << ": nothing to drop\n";
  }

  if (!store) {
    out << "state dir " << config.state_dir << ": no store, nothing to clear\n";
    return 0;
  }
  auto had = store->load(name);
  if (auto erased = store->erase(name); !erased) {
    err << "liveql slot drop: state dir " << config.state_dir
        << ": cannot clear the slot record: " << erased.error().message << "\n";
    return 1;
  }
  if (had && *had) {
    out << "cleared the record of slot " << name << " in state dir " << config.state_dir
        << " (matched up to " << format_lsn((*had)->confirmed_lsn)
        << "); the next start treats this as a gap and refetches every live query\n";
  } else {
    out << "state dir " << config.state_dir << ": no record for slot " << name << "\n";
  }
  return 0;
}

}  // namespace liveql::server
