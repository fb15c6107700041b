// PostGIS raster (postgis_raster) against a real PostgreSQL: the raster operators Hasura offers
// (_st_intersects_rast, _st_intersects_geom_nband, _st_intersects_nband_geom) compiled and run,
// Hasura's check of raster values, and their dependencies (such cohorts poll, with a reason).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create extension if not exists postgis;
create extension if not exists postgis_raster;
create table dummy_rast (rid serial primary key, rast raster);
insert into dummy_rast (rast) values
  (ST_AsRaster(ST_Buffer(ST_GeomFromEWKT('SRID=4326;POINT(1 2)'), 2), 5, 5)),
  (ST_AsRaster(ST_Buffer(ST_GeomFromEWKT('SRID=4326;LINESTRING(10 10, 11 11)'), 1), 5, 5));
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: dummy_rast}
)YAML";

class RasterPgTest : public test::CompiledPgTest<RasterPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_raster_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;
};

// One-pixel rasters (hex WKB, SRID 4326, 2 x 2 pixels): x 0..2, y 1..3 (on row 1) and
// x 9..11, y 9..11 (on row 2).
constexpr const char* kNearRaster =
    "0100000100000000000000004000000000000000C00000000000000000000000000000084000000000000000"
    "000000000000000000E610000001000100440001";
constexpr const char* kFarRaster =
    "0100000100000000000000004000000000000000C00000000000002240000000000000264000000000000000"
    "000000000000000000E610000001000100440001";

TEST_F(RasterPgTest, IntersectsAnotherRaster) {
  const std::string q = R"(query ($r: raster) {
      dummy_rast(where: {rast: {_st_intersects_rast: $r}}, order_by: {rid: asc}) { rid } })";
  EXPECT_EQ(query(q, std::string(R"({"r": ")") + kNearRaster + "\"}"),
            json::parse(R"({"dummy_rast": [{"rid": 1}]})"));
  EXPECT_EQ(query(q, std::string(R"({"r": ")") + kFarRaster + "\"}"),
            json::parse(R"({"dummy_rast": [{"rid": 2}]})"));
}

TEST_F(RasterPgTest, IntersectsAGeometryWithAndWithoutABand) {
  const std::string point = R"({"p": {"type": "Point", "coordinates": [1, 2],
      "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}}}})";
  EXPECT_EQ(query(R"(query ($p: geometry!) {
      a: dummy_rast(where: {rast: {_st_intersects_geom_nband: {geommin: $p}}}) { rid }
      b: dummy_rast(where: {rast: {_st_intersects_geom_nband: {geommin: $p, nband: 1}}}) { rid }
      c: dummy_rast(where: {rast: {_st_intersects_nband_geom: {nband: 1, geommin: $p}}}) { rid }
    })",
                  point),
            json::parse(R"({"a": [{"rid": 1}], "b": [{"rid": 1}], "c": [{"rid": 1}]})"));
  EXPECT_EQ(query(R"({ dummy_rast(where: {rast: {_st_intersects_geom_nband: {geommin:
      {type: "Point", coordinates: [40, 40],
       crs: {type: "name", properties: {name: "EPSG:4326"}}}}}}) { rid } })"),
            json::parse(R"({"dummy_rast": []})"));
}

TEST_F(RasterPgTest, RasterValuesComeBackAsHexWkb) {
  json::value got = query("{ dummy_rast(where: {rid: {_eq: 1}}) { rast } }");
  const std::string hex(got.at("dummy_rast").at(0).at("rast").as_string());
  EXPECT_EQ(hex.rfind("0100000100", 0), 0u) << hex;
}

TEST_F(RasterPgTest, RejectsWhatIsNotHexWkbAsHasuraDoes) {
  compiler::Request r;
  r.query = "query ($r: raster) { dummy_rast(where: {rast: {_st_intersects_rast: $r}}) { rid } }";
  for (const char* bad : {R"({"r": "this is invalid raster value"})", R"({"r": "ABC"})"}) {
    r.variables = json::parse(bad).as_object();
    auto op = compiler::compile(*schema_, r, {});
    ASSERT_FALSE(op.ok()) << bad;
    EXPECT_EQ(op.error().code, ErrorCode::kParseFailed) << bad;
    EXPECT_EQ(op.error().message,
              "invalid hexadecimal representation of raster well known binary format");
    EXPECT_EQ(op.error().path, "$.selectionSet.dummy_rast.args.where.rast._st_intersects_rast");
  }
  // nband_geom needs its band.
  r.query = R"({ dummy_rast(where: {rast: {_st_intersects_nband_geom: {geommin:
      {type: "Point", coordinates: [1, 2]}}}}) { rid } })";
  r.variables = {};
  EXPECT_FALSE(compiler::compile(*schema_, r, {}).ok());
}

TEST_F(RasterPgTest, RasterOperatorsMakeTheCohortPoll) {
  auto op = compile(R"(query ($r: raster) {
      dummy_rast(where: {rast: {_st_intersects_rast: $r}}) { rid } })",
                    std::string(R"({"r": ")") + kNearRaster + "\"}");
  const deps::Dependencies d = deps::extract_dependencies(op.ir);
  EXPECT_FALSE(d.tractable);
  EXPECT_NE(d.reason.find("PostGIS operator _st_intersects_rast"), std::string::npos) << d.reason;
}

}  // namespace
}  // namespace liveql
