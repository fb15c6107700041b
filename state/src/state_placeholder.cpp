namespace liveql::state {}
