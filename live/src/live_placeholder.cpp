namespace liveql::live {}
