// PostGIS against a real PostgreSQL with the postgis extension: the catalog read from the
// database, GraphQL compiled with compile(), the generated SQL run with libpq (queries, the
// multiplexed form, an insert), compared with the GeoJSON Hasura answers.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create extension if not exists postgis;
create table geom_table (id serial primary key, type text not null, geom_col geometry not null);
create table geom_3d_table (id serial primary key, type text not null, geom_col geometry not null);
create table geog_table (id serial primary key, name text not null, geog_col geography not null);
create table landmark (id serial primary key, name text, location geography(Point));
insert into geom_table (type, geom_col) values
  ('point', ST_GeomFromEWKT('SRID=4326;POINT(1 2)')),
  ('linestring', ST_GeomFromEWKT('SRID=4326;LINESTRING(0 0, 0.5 1, 1 2, 1.5 3)')),
  ('linestring', ST_GeomFromEWKT('SRID=4326;LINESTRING(1 0, 0.5 0.5, 0 1)')),
  ('polygon', ST_GeomFromEWKT('SRID=4326;POLYGON((0 0, 0 1, 1 1, 1 0, 0 0))')),
  ('polygon', ST_GeomFromEWKT('SRID=4326;POLYGON((2 0, 2 1, 3 1, 3 0, 2 0))'));
insert into geom_3d_table (type, geom_col) values
  ('raised point', ST_GeomFromEWKT('SRID=0;POINT Z (1 1 10)'));
insert into geog_table (name, geog_col) values
  ('London', ST_GeographyFromText('SRID=4326;POINT(0.1278 51.5074)')),
  ('Paris', ST_GeographyFromText('SRID=4326;POINT(2.3522 48.8566)')),
  ('New York', ST_GeographyFromText('SRID=4326;POINT(-74.0060 40.7128)')),
  ('Point', ST_GeographyFromText('SRID=4326;POINT(0.0 0.5)'));
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: geom_table}
    select_permissions:
    - role: user
      permission:
        columns: [id, type, geom_col]
        filter: {geom_col: {$st_d_within: {distance: X-Hasura-Dist, from: X-Hasura-Geom}}}
  - table: {schema: public, name: geom_3d_table}
  - table: {schema: public, name: geog_table}
  - table: {schema: public, name: landmark}
)YAML";

class PostgisPgTest : public test::CompiledPgTest<PostgisPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_postgis_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;
};

constexpr const char* kCrs4326 =
    R"("crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}})";

TEST_F(PostgisPgTest, ColumnsComeBackAsGeoJsonWithTheLongCrs) {
  json::value got = query("{ geom_table(where: {id: {_eq: 1}}) { id geom_col } }");
  EXPECT_EQ(got, json::parse(std::string(R"({"geom_table": [{"id": 1, "geom_col":
      {"type": "Point", )") + kCrs4326 +
                             R"(, "coordinates": [1, 2]}}]})"));
  // SRID 0: no crs member.
  got = query("{ geom_3d_table { geom_col } }");
  EXPECT_EQ(got, json::parse(R"({"geom_3d_table": [{"geom_col":
      {"type": "Point", "coordinates": [1, 1, 10]}}]})"));
}

TEST_F(PostgisPgTest, SpatialOperatorsFilterRows) {
  const std::string line = R"({"line": {"type": "LineString", "coordinates": [[-1, 0], [0, 1.5],
      [1, 2]], )" + std::string(kCrs4326) +
                           "}}";
  json::value got = query(R"(query ($line: geometry) {
      crosses: geom_table(where: {geom_col: {_st_crosses: $line}}) { id }
      touches: geom_table(where: {geom_col: {_st_touches: $line}}) { id }
      disjoint: geom_table(where: {_not: {geom_col: {_st_intersects: $line}}}) { id }
    })",
                          line);
  EXPECT_EQ(got, json::parse(R"({"crosses": [], "touches": [{"id": 1}, {"id": 2}],
      "disjoint": [{"id": 3}, {"id": 4}, {"id": 5}]})"));

  got = query(R"(query ($p: geometry!) {
      contains: geom_table(where: {geom_col: {_st_contains: $p}}) { id }
      equals: geom_table(where: {geom_col: {_st_equals: $p}}) { id }
      within2: geom_table(where: {geom_col: {_st_d_within: {distance: 0.5, from: $p}}}) { id }
    })",
              R"({"p": {"type": "Point", "coordinates": [1, 2]}})");
  EXPECT_EQ(got, json::parse(R"({"contains": [{"id": 1}, {"id": 2}], "equals": [{"id": 1}],
      "within2": [{"id": 1}, {"id": 2}]})"));

  got = query(R"({ geom_3d_table(where: {geom_col: {_st_3d_d_within: {distance: 5,
      from: {type: "Point", coordinates: [1, 1, 13],
             crs: {type: "name", properties: {name: "urn:ogc:def:crs:EPSG::0"}}}}}}) { type } })");
  EXPECT_EQ(got, json::parse(R"({"geom_3d_table": [{"type": "raised point"}]})"));
}

TEST_F(PostgisPgTest, GeographyDistanceSpheroidAndCasts) {
  json::value got = query(R"(query ($p: geography!, $i: geography!) {
      near: geog_table(where: {geog_col: {_st_d_within: {distance: 1000000, from: $p}}}) { name }
      sphere: geog_table(where: {geog_col: {_st_d_within: {distance: 1000000, from: $p,
        use_spheroid: false}}}) { name }
      hit: geog_table(where: {geog_col: {_st_intersects: $i}}) { name }
      cast: geog_table(where: {geog_col: {_cast: {geometry: {_st_within: {type: "Polygon",
        coordinates: [[[-75, 40], [-74, 40], [-74, 41], [-75, 41], [-75, 40]]],
        crs: {type: "name", properties: {name: "EPSG:4326"}}}}}}}) { name }
    })",
                          R"({"p": {"type": "Point", "coordinates": [1, 50]},
      "i": {"type": "Point", "coordinates": [0, 0.5]}})");
  EXPECT_EQ(got, json::parse(R"({"near": [{"name": "London"}, {"name": "Paris"}],
      "sphere": [{"name": "London"}, {"name": "Paris"}], "hit": [{"name": "Point"}],
      "cast": [{"name": "New York"}]})"));
}

TEST_F(PostgisPgTest, PermissionFilterWithSessionVariablesAndTheMultiplexedForm) {
  compiler::Session s;
  s.role = "user";
  s.is_admin = false;
  s.variables["x-hasura-dist"] = "1";
  s.variables["x-hasura-geom"] =
      R"({"type":"Polygon","coordinates":[[[2,0],[2,1],[3,1],[3,0],[2,0]]],)"
      R"("crs":{"type":"name","properties":{"name":"EPSG:4326"}}})";
  auto op = compile("{ geom_table { id } }", "{}", s);
  EXPECT_EQ(exec(sql::single_query(op.ir), op.vars),
            json::parse(R"({"geom_table": [{"id": 3}, {"id": 4}, {"id": 5}]})"));

  const std::string sql = sql::multiplexed_query(op.ir);
  const std::string ids = "{1}";
  std::string v = json::serialize(op.vars);
  std::string escaped;
  for (char c : v) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  const std::string vars = "{\"" + escaped + "\"}";
  const char* params[] = {ids.c_str(), vars.c_str(), nullptr};
  PGresult* r = PQexecParams(conn_, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  ASSERT_EQ(PQntuples(r), 1);
  EXPECT_EQ(json::parse(PQgetvalue(r, 0, 1)),
            json::parse(R"({"geom_table": [{"id": 3}, {"id": 4}, {"id": 5}]})"));
  PQclear(r);
}

TEST_F(PostgisPgTest, InsertReturnsWhatWasWritten) {
  auto op = compile(R"(mutation ($o: [landmark_insert_input!]!) {
      insert_landmark(objects: $o) { returning { name location } } })",
                    std::string(R"({"o": [{"name": "Baz", "location": {"type": "Point",
      "coordinates": [43.75049, 11.03207], )") +
                        kCrs4326 + "}}]}");
  ASSERT_EQ(op.mutations.size(), 1u);
  ASSERT_TRUE(op.mutations[0].write);
  auto statements = sql::mutation_statements(*op.mutations[0].write);
  ASSERT_EQ(statements.size(), 1u);
  PQclear(PQexec(conn_, "BEGIN"));
  json::value got = exec(statements[0], op.vars);
  PQclear(PQexec(conn_, "ROLLBACK"));
  EXPECT_EQ(got, json::parse(std::string(R"({"returning": [{"name": "Baz", "location":
      {"type": "Point", )") + kCrs4326 +
                             R"(, "coordinates": [43.75049, 11.03207]}}]})"));
}

}  // namespace
}  // namespace liveql
