// PostGIS as Hasura v2 exposes it: the `geometry` and `geography` scalars (GeoJSON objects in
// and out), their comparison operators (_st_contains, _st_d_within, ..., _cast) and the input
// types those take. Pure: GeoJSON is checked here, as Hasura checks it, before PostgreSQL sees it.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ir.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler::postgis {

// "geometry" or "geography" for a GraphQL scalar name or a Postgres type name (schema-qualified
// or quoted: `"public"."geography"`); nullopt for any other type.
std::optional<std::string> geo_type(std::string_view type);

// Checks a GeoJSON geometry object the way Hasura's parser does (types, positions of at least
// two numbers, line strings of two positions, closed linear rings of four, an optional `crs`).
// Errors are `parse-failed` at `path`, with Hasura's messages ("A LinearRing needs at least 4
// Positions", "unexpected geometry type: Random", ...).
Status validate_geojson(const boost::json::value& value, const std::string& path);

// A value written to `column` (insert, _set): its GeoJSON checked when the column is PostGIS.
Status check_column_value(const catalog::Column& column, const boost::json::value& value,
                          const std::string& path);

// A PostGIS operator of a comparison expression on `scalar` ("geometry" or "geography").
struct Operator {
  const char* name;  // "_st_contains"
  ir::CompareOp op;
  bool distance_input;  // takes st_d_within_input / st_d_within_geography_input
  const char* description;
};

// The operator `name` when `scalar` offers it (geography: _st_intersects, _st_d_within only).
const Operator* find_operator(const std::string& scalar, std::string_view name);

// The fields a <scalar>_comparison_exp gains (the _st_* operators and _cast), and the input types
// they name (<scalar>_cast_exp, st_d_within_input or st_d_within_geography_input), added to
// `types`. The cast target's comparison type is named, not built: the caller builds it too.
void add_comparison_fields(const std::string& scalar, TypeDef& comparison,
                           std::map<std::string, TypeDef>& types);

// The scalar a _cast from `scalar` may name ("geometry" <-> "geography").
std::string cast_target(const std::string& scalar);

// PostGIS raster (postgis_raster) as Hasura v2 exposes it: the `raster` scalar (hex WKB text in
// and out) and three operators on a raster_comparison_exp, all ST_Intersects:
//   _st_intersects_rast: raster                                  ST_Intersects(col, raster)
//   _st_intersects_geom_nband: {geommin: geometry!, nband: Int}   ST_Intersects(col, geom, nband)
//   _st_intersects_nband_geom: {nband: Int!, geommin: geometry!}  ST_Intersects(col, nband, geom)
struct RasterOperator {
  const char* name;
  ir::CompareOp op;
  const char* input;  // the input type's name; "raster" for _st_intersects_rast
  const char* description;
};

// True for the raster scalar or a Postgres raster type name (schema-qualified or quoted).
bool is_raster(std::string_view type);

// The raster operator `name`, or null.
const RasterOperator* find_raster_operator(std::string_view name);

// The fields of raster_comparison_exp beyond the common ones, and their input types (which name
// the `geometry` scalar: the caller adds it).
void add_raster_comparison_fields(TypeDef& comparison, std::map<std::string, TypeDef>& types);

// A raster value as Hasura reads it: a string of hexadecimal digit pairs (its WKB). Else
// parse-failed at `path`, "invalid hexadecimal representation of raster well known binary format".
Status validate_raster(const boost::json::value& value, const std::string& path);

}  // namespace liveql::compiler::postgis
