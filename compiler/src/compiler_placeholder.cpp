namespace liveql::compiler {}
