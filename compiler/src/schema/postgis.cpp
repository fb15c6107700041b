#include "schema/postgis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "schema/aeson.hpp"

namespace liveql::compiler::postgis {

namespace json = boost::json;

namespace {

Error parse_failed(std::string message, const std::string& path) {
  return make_error(ErrorCode::kParseFailed, std::move(message), path);
}

Error expected(const char* what, const char* kind, const json::value& v, const std::string& path) {
  return detail::aeson_expected(what, kind, v, path);
}

// A position: an array of at least two numbers (Hasura ignores what follows the third).
Result<std::vector<double>> position(const json::value& v, const std::string& path) {
  if (!v.is_array()) return expected("Position", "Array", v, path);
  std::vector<double> out;
  for (const auto& e : v.get_array()) {
    if (!e.is_number()) return expected("Double", "Number", e, path);
    out.push_back(e.to_number<double>());
  }
  if (out.size() < 2) return parse_failed("A Position needs at least 2 elements", path);
  return out;
}

Result<std::vector<std::vector<double>>> positions(const json::value& v, const char* what,
                                                   const std::string& path) {
  if (!v.is_array()) return expected(what, "Array", v, path);
  std::vector<std::vector<double>> out;
  for (const auto& e : v.get_array()) {
    auto p = position(e, path);
    if (!p) return p.take_error();
    out.push_back(std::move(*p));
  }
  return out;
}

Status line_string(const json::value& v, const std::string& path) {
  auto ps = positions(v, "LineString", path);
  if (!ps) return ps.take_error();
  if (ps->size() < 2) return parse_failed("A LineString needs at least 2 Positions", path);
  return Ok{};
}

Status linear_ring(const json::value& v, const std::string& path) {
  auto ps = positions(v, "LinearRing", path);
  if (!ps) return ps.take_error();
  if (ps->size() < 4) return parse_failed("A LinearRing needs at least 4 Positions", path);
  if (ps->front() != ps->back())
    return parse_failed("the first and last locations have to be equal for a LinearRing", path);
  return Ok{};
}

// A list of `each`: MultiLineString, Polygon (rings), MultiPolygon (polygons).
template <typename F>
Status list_of(const json::value& v, const char* what, const std::string& path, F each) {
  if (!v.is_array()) return expected(what, "Array", v, path);
  for (const auto& e : v.get_array())
    if (auto s = each(e, path); !s) return s;
  return Ok{};
}

Status polygon(const json::value& v, const std::string& path) {
  return list_of(v, "Polygon", path, linear_ring);
}

// crs: {"type": "name", "properties": {"name": text}} or
// {"type": "link", "properties": {"href": text, "type"?: text}}.
Status crs(const json::value& v, const std::string& path) {
  if (v.is_null()) return Ok{};
  if (!v.is_object()) return expected("CRS", "Object", v, path);
  const json::object& o = v.get_object();
  const json::value* type = o.if_contains("type");
  if (!type) return parse_failed("key \"type\" not found", path);
  if (!type->is_string()) return expected("Text", "String", *type, path);
  const json::value* props = o.if_contains("properties");
  if (!props) return parse_failed("key \"properties\" not found", path);
  if (!props->is_object()) return expected("CRS properties", "Object", *props, path);
  const json::object& p = props->get_object();
  auto text = [&](const char* key, bool required) -> Status {
    const json::value* t = p.if_contains(key);
    if (!t || (t->is_null() && !required)) {
      if (required) return parse_failed(fmt::format("key \"{}\" not found", key), path);
      return Ok{};
    }
    if (!t->is_string()) return expected("Text", "String", *t, path);
    return Ok{};
  };
  const std::string_view tag = type->get_string();
  if (tag == "name") return text("name", true);
  if (tag == "link") {
    if (auto s = text("href", true); !s) return s;
    return text("type", false);
  }
  return parse_failed(fmt::format("unexpected CRS type: {}", tag), path);
}

Status geometry(const json::value& v, const std::string& path) {
  if (!v.is_object()) return expected("Geometry", "Object", v, path);
  const json::object& o = v.get_object();
  const json::value* type = o.if_contains("type");
  if (!type) return parse_failed("key \"type\" not found", path);
  if (!type->is_string()) return expected("Text", "String", *type, path);
  const std::string_view t = type->get_string();
  const char* member = t == "GeometryCollection" ? "geometries" : "coordinates";
  static constexpr std::string_view kTypes[] = {
      "Point",   "MultiPoint",   "LineString",        "MultiLineString",
      "Polygon", "MultiPolygon", "GeometryCollection"};
  if (std::find(std::begin(kTypes), std::end(kTypes), t) == std::end(kTypes))
    return parse_failed(fmt::format("unexpected geometry type: {}", t), path);
  const json::value* body = o.if_contains(member);
  if (!body) return parse_failed(fmt::format("key \"{}\" not found", member), path);
  Status s = Ok{};
  if (t == "Point") {
    auto p = position(*body, path);
    if (!p) s = p.take_error();
  } else if (t == "MultiPoint") {
    auto p = positions(*body, "MultiPoint", path);
    if (!p) s = p.take_error();
  } else if (t == "LineString") {
    s = line_string(*body, path);
  } else if (t == "MultiLineString") {
    s = list_of(*body, "MultiLineString", path, line_string);
  } else if (t == "Polygon") {
    s = polygon(*body, path);
  } else if (t == "MultiPolygon") {
    s = list_of(*body, "MultiPolygon", path, polygon);
  } else {
    s = list_of(*body, "GeometryCollection", path, geometry);
  }
  if (!s) return s;
  if (const json::value* c = o.if_contains("crs")) return crs(*c, path);
  return Ok{};
}

// Hasura's operator descriptions.
constexpr Operator kGeometryOps[] = {
    {"_st_3d_d_within", ir::CompareOp::kSt3dDWithin, true,
     "is the column within a given 3D distance from the given geometry value"},
    {"_st_3d_intersects", ir::CompareOp::kSt3dIntersects, false,
     "does the column spatially intersect the given geometry value in 3D"},
    {"_st_contains", ir::CompareOp::kStContains, false,
     "does the column contain the given geometry value"},
    {"_st_crosses", ir::CompareOp::kStCrosses, false,
     "does the column cross the given geometry value"},
    {"_st_d_within", ir::CompareOp::kStDWithin, true,
     "is the column within a given distance from the given geometry value"},
    {"_st_equals", ir::CompareOp::kStEquals, false,
     "is the column equal to given geometry value (directionality is ignored)"},
    {"_st_intersects", ir::CompareOp::kStIntersects, false,
     "does the column spatially intersect the given geometry value"},
    {"_st_overlaps", ir::CompareOp::kStOverlaps, false,
     "does the column 'spatially overlap' (intersect but not completely contain) the given "
     "geometry value"},
    {"_st_touches", ir::CompareOp::kStTouches, false,
     "does the column have atleast one point in common with the given geometry value"},
    {"_st_within", ir::CompareOp::kStWithin, false,
     "is the column contained in the given geometry value"},
};

constexpr Operator kGeographyOps[] = {
    {"_st_d_within", ir::CompareOp::kStDWithin, true,
     "is the column within a given distance from the given geography value"},
    {"_st_intersects", ir::CompareOp::kStIntersects, false,
     "does the column spatially intersect the given geography value"},
};

InputValueDef input(std::string name, gql::TypeRef type, std::string description = "") {
  return InputValueDef{std::move(name), std::move(type), std::nullopt, std::move(description)};
}

}  // namespace

std::optional<std::string> geo_type(std::string_view type) {
  std::string_view t = type;
  if (auto dot = t.rfind('.'); dot != std::string_view::npos) t = t.substr(dot + 1);
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  if (t == "geometry" || t == "geography") return std::string(t);
  return std::nullopt;
}

Status validate_geojson(const json::value& value, const std::string& path) {
  return geometry(value, path);
}

Status check_column_value(const catalog::Column& column, const json::value& value,
                          const std::string& path) {
  if (value.is_null() || !geo_type(column.udt_name)) return Ok{};
  return validate_geojson(value, path);
}

const Operator* find_operator(const std::string& scalar, std::string_view name) {
  if (scalar == "geometry") {
    for (const auto& o : kGeometryOps)
      if (name == o.name) return &o;
  } else if (scalar == "geography") {
    for (const auto& o : kGeographyOps)
      if (name == o.name) return &o;
  }
  return nullptr;
}

std::string cast_target(const std::string& scalar) {
  if (scalar == "geometry") return "geography";
  if (scalar == "geography") return "geometry";
  return "";
}

void add_comparison_fields(const std::string& scalar, TypeDef& comparison,
                           std::map<std::string, TypeDef>& types) {
  const bool geometry = scalar == "geometry";
  const std::string target = cast_target(scalar);
  if (target.empty()) return;
  const std::string cast_name = scalar + "_cast_exp";
  comparison.input_fields.push_back(input("_cast", named_type(cast_name)));
  if (!types.count(cast_name)) {
    TypeDef cast{TypeKind::kInputObject, cast_name};
    cast.input_fields.push_back(input(target, named_type(target + "_comparison_exp")));
    types.emplace(cast_name, std::move(cast));
  }
  const std::string within = geometry ? "st_d_within_input" : "st_d_within_geography_input";
  auto add_ops = [&](const auto& ops) {
    for (const auto& o : ops)
      comparison.input_fields.push_back(
          input(o.name, named_type(o.distance_input ? within : scalar), o.description));
  };
  if (geometry) {
    add_ops(kGeometryOps);
  } else {
    add_ops(kGeographyOps);
  }
  if (!types.count(within)) {
    TypeDef w{TypeKind::kInputObject, within};
    w.input_fields.push_back(input("distance", non_null(named_type("Float"))));
    w.input_fields.push_back(input("from", non_null(named_type(scalar))));
    if (!geometry) {
      InputValueDef spheroid = input("use_spheroid", named_type("Boolean"));
      spheroid.default_value = "true";
      w.input_fields.push_back(std::move(spheroid));
    }
    types.emplace(within, std::move(w));
  }
}

namespace {

constexpr RasterOperator kRasterOps[] = {
    {"_st_intersects_geom_nband", ir::CompareOp::kStIntersectsGeomNband,
     "st_intersects_geom_nband_input",
     "does the column spatially intersect the given geometry value"},
    {"_st_intersects_nband_geom", ir::CompareOp::kStIntersectsNbandGeom,
     "st_intersects_nband_geom_input",
     "does the column spatially intersect the given geometry value"},
    {"_st_intersects_rast", ir::CompareOp::kStIntersectsRast, "raster",
     "does the column spatially intersect the given raster value"},
};

}  // namespace

bool is_raster(std::string_view type) {
  std::string_view t = type;
  if (auto dot = t.rfind('.'); dot != std::string_view::npos) t = t.substr(dot + 1);
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  return t == "raster";
}

const RasterOperator* find_raster_operator(std::string_view name) {
  for (const auto& o : kRasterOps)
    if (name == o.name) return &o;
  return nullptr;
}

void add_raster_comparison_fields(TypeDef& comparison, std::map<std::string, TypeDef>& types) {
  for (const auto& o : kRasterOps)
    comparison.input_fields.push_back(input(o.name, named_type(o.input), o.description));
  if (!types.count("st_intersects_geom_nband_input")) {
    TypeDef t{TypeKind::kInputObject, "st_intersects_geom_nband_input"};
    t.input_fields.push_back(input("geommin", non_null(named_type("geometry"))));
    t.input_fields.push_back(input("nband", named_type("Int")));
    types.emplace(t.name, std::move(t));
  }
  if (!types.count("st_intersects_nband_geom_input")) {
    TypeDef t{TypeKind::kInputObject, "st_intersects_nband_geom_input"};
    t.input_fields.push_back(input("geommin", non_null(named_type("geometry"))));
    t.input_fields.push_back(input("nband", non_null(named_type("Int"))));
    types.emplace(t.name, std::move(t));
  }
}

Status validate_raster(const json::value& value, const std::string& path) {
  if (value.is_null()) return Ok{};
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  bool ok = value.is_string() && value.get_string().size() % 2 == 0;
  if (ok)
    for (char c : value.get_string()) ok = ok && hex(c);
  if (ok) return Ok{};
  return parse_failed("invalid hexadecimal representation of raster well known binary format",
                      path);
}

}  // namespace liveql::compiler::postgis
