namespace liveql::matcher {}
