namespace liveql::replication {}
