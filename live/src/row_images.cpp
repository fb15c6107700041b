// Results written from a commit's row images, and their flushes: rule 11 (live_core.hpp).
#include "live_core.hpp"

namespace liveql::live {

// The final state, per key, of the rows of one table a transaction changed: the image of its
// last insert or update, or null when its last change deleted it or moved it to another key.
// Built on first use, for the tables of cohorts whose results row images write (rule 11).
class FinalRows {
 public:
  explicit FinalRows(const Transaction& txn) : txn_(txn) {}

  // The final image of `key` in `table`; std::nullopt when the transaction did not change that
  // key, or its changes cannot tell (a truncate, an image without the key column).
  std::optional<const RowImage*> find(const catalog::QualifiedName& table,
                                      const std::string& key_column, std::string_view key) {
    Table& t = table_of(table, key_column);
    if (t.unsure) return std::nullopt;
    auto it = t.rows.find(key);
    if (it == t.rows.end()) return std::nullopt;
    return it->second;
  }

 private:
  struct Table {
    catalog::QualifiedName name;
    std::string key_column;
    bool unsure = false;
    boost::unordered_flat_map<std::string_view, const RowImage*> rows;
  };

  Table& table_of(const catalog::QualifiedName& name, const std::string& key_column) {
    for (auto& t : tables_)
      if (t.name == name && t.key_column == key_column) return t;
    Table& t = tables_.emplace_back();
    t.name = name;
    t.key_column = key_column;
    for (const RowChange& change : txn_.changes) {
      if (change.schema != name.schema || change.table != name.name) continue;
      if (change.kind == ChangeKind::kTruncate) {
        t.unsure = true;
        break;
      }
      const ColumnValue* old_key = change.old_row.find(key_column);
      const ColumnValue* new_key = change.new_row.find(key_column);
      if (change.kind == ChangeKind::kDelete || (change.kind == ChangeKind::kUpdate && old_key &&
                                                 new_key && old_key->value != new_key->value)) {
        if (!old_key || !old_key->value) {
          t.unsure = true;
          break;
        }
        t.rows[*old_key->value] = nullptr;
      }
      if (change.kind == ChangeKind::kInsert || change.kind == ChangeKind::kUpdate) {
        if (!new_key || !new_key->value) {
          t.unsure = true;
          break;
        }
        t.rows[*new_key->value] = &change.new_row;
      }
    }
    return t;
  }

  const Transaction& txn_;
  std::vector<Table> tables_;
};

void LiveQueries::Impl::write_from_images(const Transaction& txn, std::vector<SubscriberId>& ids,
                                          std::optional<std::uint64_t> xid,
                                          Clock::time_point decoded) {
  std::optional<FinalRows> rows;  // indexed on first use
  Written written;
  auto keep = ids.begin();
  for (SubscriberId id : ids) {
    auto it = subscribers.find(id);
    if (it == subscribers.end() || !write_from_image(it->second, txn, rows, written, decoded)) {
      *keep++ = id;
      continue;
    }
    it->second.written_xid = xid;
    ++it->second.cohort->row_images;
  }
  const auto served = static_cast<std::size_t>(ids.end() - keep);
  ids.erase(keep, ids.end());
  if (served == 0) return;
  images_served += served;  // counted at the next flush, once per flush
  if (!image_flush_scheduled) schedule_image_flush(last_image_flush + kImageFlushPeriod);
}

void LiveQueries::Impl::schedule_image_flush(Clock::time_point due) {
  if (image_flush_scheduled && image_flush_due <= due) return;
  image_flush_scheduled = true;
  image_flush_due = due;
  if (!image_timer) image_timer = std::make_unique<asio::steady_timer>(ex);
  image_timer->expires_at(due);  // a wait pending for later completes as aborted
  image_timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->flush_images();
  });
}

void LiveQueries::Impl::flush_images() {
  image_flush_scheduled = false;
  if (stopped) return;
  const auto now = Clock::now();
  last_image_flush = now;
  std::vector<SubscriberId> queue = std::move(image_queue);
  image_queue.clear();
  std::optional<Clock::time_point> held_until;
  std::vector<Cohort*> counted;
  std::vector<std::pair<SubscriberId, ResultText>> pushes;
  std::vector<double> latencies;
  for (SubscriberId id : queue) {
    auto it = subscribers.find(id);
    if (it == subscribers.end()) continue;
    Subscriber& s = it->second;
    Cohort& c = *s.cohort;
    if (s.image_pending && now < c.image_hold_until) {
      image_queue.push_back(id);
      held_until = std::min(held_until.value_or(c.image_hold_until), c.image_hold_until);
      continue;
    }
    s.image_queued = false;
    auto changed = std::exchange(s.image_changed_at, std::nullopt);
    if (!s.image_pending) continue;  // a statement's newer result went first
    pushes.emplace_back(id, std::exchange(s.image_pending, nullptr));
    if (changed) latencies.push_back(std::chrono::duration<double>(now - *changed).count());
    if (!std::exchange(c.image_flushed, true)) counted.push_back(&c);
  }
  for (Cohort* c : counted) {
    c->image_flushed = false;
    c->budget->flushed(now, c->members);
    // Held, the pushes keep their period as a poll round's timer does (the next one a cap
    // after the last one was due, not after this late flush), unless the last is long past.
    if (c->budget->throttled()) {
      const auto next = c->image_hold_until + c->budget->cap();
      c->image_hold_until = next > now ? next : now + c->budget->cap();
    }
  }
  if (held_until) schedule_image_flush(*held_until);
  if (images_served > 0) {
    metrics.inc("liveql_row_image_results_total",
                static_cast<double>(std::exchange(images_served, 0)));
  }
  deliver_all(pushes, latencies);
}

bool LiveQueries::Impl::write_from_image(Subscriber& s, const Transaction& txn,
                                         std::optional<FinalRows>& rows, Written& written,
                                         Clock::time_point decoded) {
  if (!s.row_key || !s.cohort || !s.cohort->deps || !s.cohort->deps->row_result) return false;
  if (!s.has_result || s.waiting || s.statement || s.cohort->mode != LiveMode::kEvent) return false;
  // Only a row already in its result: its result keys then stay right. A row entering it is
  // refetched, so that its keys find the row when it leaves (by an update its predicate alone
  // cannot see, e.g. `region` changing under REPLICA IDENTITY DEFAULT).
  if (s.keys.empty() || s.keys == "[]") return false;
  const deps::RowResult& plan = *s.cohort->deps->row_result;
  // A timestamptz prints in each session's zone: the image's must be the statement's.
  if (plan.zoned && (image_zone.empty() || image_zone != pool.time_zone())) return false;
  if (!rows) rows.emplace(txn);
  auto image = rows->find(plan.table, plan.key_column, s.row_key->key);
  if (!image || !*image || !deps::row_passes(plan, *s.row_key, **image)) return false;
  auto [same, fresh] = written.try_emplace({&plan, *image});
  if (fresh) {
    auto text = deps::write_row_result(plan, **image);
    if (!text) {
      written.erase(same);
      return false;
    }
    same->second.hash = hash_text(*text);
    same->second.text = std::make_shared<const std::string>(std::move(*text));
  }
  const std::uint64_t h = same->second.hash;
  if (s.hash != h) {
    s.cohort->budget->demanded(1);
    s.hash = h;
    s.image_pending = same->second.text;  // a newer one replaces a pending one
    if (!s.image_changed_at) s.image_changed_at = decoded;
    if (!s.image_queued) {
      s.image_queued = true;
      image_queue.push_back(s.id);
    }
    schedule_image_flush(
        std::max(last_image_flush + kImageFlushPeriod, s.cohort->image_hold_until));
  }
  return true;
}

}  // namespace liveql::live
