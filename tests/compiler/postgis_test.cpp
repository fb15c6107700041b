// PostGIS as Hasura v2 exposes it: GeoJSON validation, the geometry/geography types and their
// operators, the SQL they compile to, and their dependencies (they make a cohort poll).
#include "schema/postgis.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

Status geojson(std::string_view text) {
  return postgis::validate_geojson(json::parse(text), "$.x");
}

TEST(GeoJsonTest, AcceptsEveryGeometryType) {
  for (const char* ok : {
           R"({"type": "Point", "coordinates": [1, 2]})",
           R"({"type": "Point", "coordinates": [1, 2, 3.5]})",
           R"({"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]})",
           R"({"type": "LineString", "coordinates": [[1, 2], [3, 4]]})",
           R"({"type": "MultiLineString", "coordinates": [[[1, 2], [3, 4]], [[0, 0], [1, 1]]]})",
           R"({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [0, 0]]]})",
           R"({"type": "MultiPolygon", "coordinates": [[[[0, 0], [0, 1], [1, 1], [0, 0]]]]})",
           R"({"type": "GeometryCollection", "geometries": [{"type": "Point",
               "coordinates": [1, 2]}, {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}]})",
           R"({"type": "Point", "coordinates": [1, 2],
               "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}}})",
           R"({"type": "Point", "coordinates": [1, 2],
               "crs": {"type": "link", "properties": {"href": "http://x", "type": "proj4"}}})",
       }) {
    EXPECT_TRUE(geojson(ok).ok()) << ok;
  }
}

TEST(GeoJsonTest, RejectsWithHasurasMessages) {
  struct Bad {
    const char* json;
    const char* message;
  };
  for (const Bad& b : std::initializer_list<Bad>{
           {R"({"type": "Point", "coordinates": [43.75]})", "A Position needs at least 2 elements"},
           {R"({"type": "LineString", "coordinates": [[1, 2]]})",
            "A LineString needs at least 2 Positions"},
           {R"({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [0, 0]]]})",
            "A LinearRing needs at least 4 Positions"},
           {R"({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0]]]})",
            "the first and last locations have to be equal for a LinearRing"},
           {R"({"type": "Random", "coordinates": [1, 2]})", "unexpected geometry type: Random"},
           {R"({"coordinates": [1, 2]})", "key \"type\" not found"},
           {R"({"type": "Point"})", "key \"coordinates\" not found"},
           {R"({"type": "Point", "coordinates": ["a", 2]})",
            "parsing Double failed, expected Number, but encountered String"},
           {R"j("POINT(1 2)")j",
            "parsing Geometry failed, expected Object, but encountered String"},
           {R"({"type": "GeometryCollection", "geometries": [{"type": "Point",
               "coordinates": [1]}]})",
            "A Position needs at least 2 elements"},
           {R"({"type": "Point", "coordinates": [1, 2], "crs": {"type": "name"}})",
            "key \"properties\" not found"},
       }) {
    Status s = geojson(b.json);
    ASSERT_FALSE(s.ok()) << b.json;
    EXPECT_EQ(s.error().code, ErrorCode::kParseFailed) << b.json;
    EXPECT_EQ(s.error().message, b.message) << b.json;
    EXPECT_EQ(s.error().path, "$.x");
  }
}

catalog::Catalog geo_catalog() {
  catalog::Catalog cat;
  auto geo = [](std::string name, std::string type) {
    catalog::Column c = test::col(std::move(name), type, type);
    c.type_schema = "public";
    return c;
  };
  catalog::Table places;
  places.name = {"public", "places"};
  places.columns = {test::col("id", "integer", "int4"), test::col("name", "text", "text"),
                    geo("geom", "geometry")};
  places.primary_key = {"id"};
  catalog::Table cities;
  cities.name = {"public", "cities"};
  cities.columns = {test::col("id", "integer", "int4"), test::col("name", "text", "text"),
                    geo("location", "geography")};
  cities.columns[2].nullable = true;
  cities.primary_key = {"id"};
  cat.tables = {places, cities};
  return cat;
}

constexpr const char* kGeoMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: places}
    select_permissions:
    - role: user
      permission:
        columns: [id, name, geom]
        filter:
          geom:
            $st_d_within: {distance: X-Hasura-Dist, from: X-Hasura-Geom}
  - table: {schema: public, name: cities}
    insert_permissions:
    - role: user
      permission: {columns: [name, location], check: {}}
    select_permissions:
    - role: user
      permission:
        columns: [id, name, location]
        filter: {location: {_st_intersects: {type: Point, coordinates: [0, 0.5]}}}
)YAML";

class PostgisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto md = metadata::parse_metadata(kGeoMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message;
    auto s = build_schema(geo_catalog(), *md);
    ASSERT_TRUE(s.ok()) << s.error().message;
    schema_ = *s;
  }
  static Session user() {
    Session s;
    s.role = "user";
    s.is_admin = false;
    s.variables["x-hasura-dist"] = "1";
    s.variables["x-hasura-geom"] = R"({"type":"Point","coordinates":[2,0]})";
    return s;
  }
  Result<CompiledOperation> run(std::string_view q, std::string vars = "{}",
                                const Session& s = Session{}) {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    return compile(*schema_, r, s);
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> PostgisTest::schema_;

std::vector<std::string> input_names(const TypeDef& t) {
  std::vector<std::string> out;
  for (const auto& f : t.input_fields) out.push_back(f.name);
  return out;
}

TEST_F(PostgisTest, TypesAsHasuraNamesThem) {
  const RoleSchema& admin = schema_->roles.at("admin");
  ASSERT_TRUE(admin.type("geometry"));
  ASSERT_TRUE(admin.type("geography"));
  const TypeDef* geom = admin.type("geometry_comparison_exp");
  ASSERT_TRUE(geom);
  EXPECT_EQ(input_names(*geom), (std::vector<std::string>{"_cast",
                                                          "_eq",
                                                          "_gt",
                                                          "_gte",
                                                          "_in",
                                                          "_is_null",
                                                          "_lt",
                                                          "_lte",
                                                          "_neq",
                                                          "_nin",
                                                          "_st_3d_d_within",
                                                          "_st_3d_intersects",
                                                          "_st_contains",
                                                          "_st_crosses",
                                                          "_st_d_within",
                                                          "_st_equals",
                                                          "_st_intersects",
                                                          "_st_overlaps",
                                                          "_st_touches",
                                                          "_st_within"}));
  EXPECT_EQ(type_to_string(geom->input_field("_st_d_within")->type), "st_d_within_input");
  EXPECT_EQ(geom->input_field("_st_within")->description,
            "is the column contained in the given geometry value");
  const TypeDef* geog = admin.type("geography_comparison_exp");
  ASSERT_TRUE(geog);
  EXPECT_EQ(input_names(*geog),
            (std::vector<std::string>{"_cast", "_eq", "_gt", "_gte", "_in", "_is_null", "_lt",
                                      "_lte", "_neq", "_nin", "_st_d_within", "_st_intersects"}));
  EXPECT_EQ(type_to_string(geog->input_field("_st_d_within")->type), "st_d_within_geography_input");
  const TypeDef* within = admin.type("st_d_within_geography_input");
  ASSERT_TRUE(within);
  EXPECT_EQ(input_names(*within), (std::vector<std::string>{"distance", "from", "use_spheroid"}));
  EXPECT_EQ(within->input_field("use_spheroid")->default_value, "true");
  EXPECT_EQ(type_to_string(within->input_field("from")->type), "geography!");
  const TypeDef* cast = admin.type("geography_cast_exp");
  ASSERT_TRUE(cast);
  EXPECT_EQ(input_names(*cast), std::vector<std::string>{"geometry"});
  EXPECT_EQ(type_to_string(admin.type("geometry_cast_exp")->input_fields[0].type),
            "geography_comparison_exp");
  EXPECT_EQ(input_names(*admin.type("st_d_within_input")),
            (std::vector<std::string>{"distance", "from"}));
}

TEST_F(PostgisTest, OperatorsCompileToPostgisWithValuesAsParams) {
  auto op = run(R"(query ($p: geometry!) {
      a: places(where: {geom: {_st_within: $p}}) { id geom }
      b: places(where: {geom: {_st_d_within: {distance: 2, from: $p}}}) { id }
      c: cities(where: {location: {_st_d_within: {distance: 9, from: {type: "Point",
        coordinates: [1, 50]}, use_spheroid: false}}}) { name location }
      d: cities(where: {location: {_cast: {geometry: {_st_within: $p}}}}) { id }
    })",
                R"({"p": {"type": "Polygon", "coordinates": [[[0,0],[0,1],[1,1],[0,0]]]}})");
  ASSERT_TRUE(op.ok()) << op.error().message << " at " << op.error().path;
  const auto& f = op->ir.fields;
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].select.where->op, ir::CompareOp::kStWithin);
  EXPECT_EQ(f[1].select.where->op, ir::CompareOp::kStDWithin);
  EXPECT_EQ(f[2].select.where->op, ir::CompareOp::kStDWithin);
  EXPECT_EQ(f[3].select.where->op, ir::CompareOp::kStWithin);
  EXPECT_EQ(f[3].select.where->column_cast, "\"public\".\"geometry\"");
  json::value within = op->vars.at(f[2].select.where->param.key);
  EXPECT_EQ(within.at("use_spheroid"), false);
  EXPECT_EQ(within.at("distance").to_number<double>(), 9.0);

  std::string sql = sql::single_query(op->ir);
  EXPECT_NE(sql.find("ST_Within("), std::string::npos) << sql;
  EXPECT_NE(sql.find("ST_GeomFromGeoJSON("), std::string::npos) << sql;
  EXPECT_NE(sql.find("ST_DWithin("), std::string::npos) << sql;
  EXPECT_NE(sql.find("::\"public\".\"geometry\""), std::string::npos) << sql;
  EXPECT_NE(sql.find("ST_AsGeoJSON("), std::string::npos) << sql;
  EXPECT_EQ(sql.find("Polygon"), std::string::npos) << "values never enter SQL text";
}

TEST_F(PostgisTest, GeoJsonErrorsAreParseFailedAtTheUse) {
  auto bad = run(R"(query ($p: geometry!) { places(where: {geom: {_st_within: $p}}) { id } })",
                 R"({"p": {"type": "LineString", "coordinates": [[1, 2]]}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kParseFailed);
  EXPECT_EQ(bad.error().message, "A LineString needs at least 2 Positions");
  EXPECT_EQ(bad.error().path, "$.selectionSet.places.args.where.geom._st_within");

  auto eq = run(R"({ places(where: {geom: {_eq: {type: "Nope", coordinates: [1, 2]}}}) { id } })");
  ASSERT_FALSE(eq.ok());
  EXPECT_EQ(eq.error().code, ErrorCode::kParseFailed);
  EXPECT_EQ(eq.error().message, "unexpected geometry type: Nope");

  auto insert = run(R"(mutation ($o: [cities_insert_input!]!) {
      insert_cities(objects: $o) { affected_rows } })",
                    R"({"o": [{"name": "x", "location": {"type": "Point", "coordinates": [1]}}]})");
  ASSERT_FALSE(insert.ok());
  EXPECT_EQ(insert.error().code, ErrorCode::kParseFailed);
  EXPECT_EQ(insert.error().message, "A Position needs at least 2 elements");
  EXPECT_EQ(insert.error().path, "$.selectionSet.insert_cities.args.objects[0].location");

  auto cast = run(R"({ cities(where: {location: {_cast: {integer: {_eq: 0}}}}) { id } })");
  ASSERT_FALSE(cast.ok());
  EXPECT_EQ(cast.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(cast.error().path, "$.selectionSet.cities.args.where.location._cast.integer");

  auto wrong_op = run(R"({ cities(where: {location: {_st_within: {type: "Point",
      coordinates: [1, 2]}}}) { id } })");
  ASSERT_FALSE(wrong_op.ok());
  EXPECT_EQ(wrong_op.error().code, ErrorCode::kValidationFailed);
}

TEST_F(PostgisTest, InsertTakesGeoJsonAsAParameter) {
  auto op = run(R"(mutation ($o: [cities_insert_input!]!) {
      insert_cities(objects: $o) { returning { id location } } })",
                R"({"o": [{"name": "x", "location": {"type": "Point", "coordinates": [1, 2]}}]})");
  ASSERT_TRUE(op.ok()) << op.error().message;
  ASSERT_EQ(op->mutations.size(), 1u);
  ASSERT_TRUE(op->mutations[0].write);
  auto statements = sql::mutation_statements(*op->mutations[0].write);
  ASSERT_EQ(statements.size(), 1u);
  EXPECT_NE(statements[0].find("(ST_GeomFromGeoJSON("), std::string::npos) << statements[0];
  EXPECT_NE(statements[0].find(")::\"public\".\"geography\""), std::string::npos);
  EXPECT_NE(statements[0].find("ST_AsGeoJSON("), std::string::npos);
}

TEST_F(PostgisTest, PermissionFiltersResolveSessionVariablesInsideDWithin) {
  auto op = run("{ places { id } cities { id } }", "{}", user());
  ASSERT_TRUE(op.ok()) << op.error().message;
  const ir::BoolExp& places = *op->ir.fields[0].select.where;
  EXPECT_EQ(places.op, ir::CompareOp::kStDWithin);
  const json::value& within = op->vars.at(places.param.key);
  EXPECT_EQ(within.at("distance"), "1");
  EXPECT_EQ(within.at("from"), R"({"type":"Point","coordinates":[2,0]})");
  EXPECT_EQ(op->ir.fields[1].select.where->op, ir::CompareOp::kStIntersects);

  Session missing = user();
  missing.variables.erase("x-hasura-geom");
  auto m = run("{ places { id } }", "{}", missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kNotFound);
}

TEST_F(PostgisTest, PostgisOperatorsMakeTheCohortPoll) {
  auto op = run(R"({ places(where: {geom: {_st_within: {type: "Point", coordinates: [1, 2]}}})
      { id } })");
  ASSERT_TRUE(op.ok()) << op.error().message;
  deps::Dependencies d = deps::extract_dependencies(op->ir);
  EXPECT_FALSE(d.tractable);
  EXPECT_EQ(d.reason, "PostGIS operator _st_within on public.places.geom");
  EXPECT_EQ(d.tables[0].predicate.kind, deps::Predicate::Kind::kUnknown);

  auto cast =
      run(R"({ cities(where: {location: {_cast: {geometry: {_is_null: false}}}}) { id } })");
  ASSERT_TRUE(cast.ok()) << cast.error().message;
  deps::Dependencies dc = deps::extract_dependencies(cast->ir);
  EXPECT_FALSE(dc.tractable);
  EXPECT_EQ(dc.reason, "_cast with _is_null on public.cities.location");

  // A plain name filter on the same table stays in event mode.
  auto plain = run(R"({ places(where: {name: {_eq: "x"}}) { id geom } })");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(deps::extract_dependencies(plain->ir).tractable);
}

}  // namespace
}  // namespace liveql::compiler
