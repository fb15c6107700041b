#include "liveql/live/live_queries.hpp"
