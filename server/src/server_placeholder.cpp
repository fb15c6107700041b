namespace liveql::server {}
