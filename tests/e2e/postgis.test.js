// PostGIS over real sockets (issues 10 and 11): GeoJSON in (variables, literals, inserts) and out,
// Hasura's parse-failed for GeoJSON it refuses, _st_* filters, and a subscription whose filter
// uses _st_d_within: it cannot be matched against a row change, so its cohort polls and still
// sees a committed insert.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_postgis';
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };
const CRS = { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::4326' } };
const METADATA = `version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: places}
`;

describe('postgis', () => {
  let db;
  let server;
  const q = (query, variables) => h.graphql(server, query, variables, admin);

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `create extension if not exists postgis;
      create table places (id serial primary key, name text not null, geom geometry not null,
        area geography);
      insert into places (name, geom) values
        ('a', ST_GeomFromEWKT('SRID=4326;POINT(1 2)')),
        ('b', ST_GeomFromEWKT('SRID=4326;POINT(10 20)'))`);
    server = await h.startLiveql(db, { metadataYaml: METADATA });
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('GeoJSON out, _st_within with a variable', async () => {
    const res = await q(`query ($p: geometry!) { places(where: {geom: {_st_within: $p}}) {
      name geom } }`, { p: { type: 'Polygon', coordinates: [[[0, 0], [0, 5], [5, 5], [5, 0], [0, 0]]] } });
    assert.deepEqual(res, { data: { places: [
      { name: 'a', geom: { type: 'Point', crs: CRS, coordinates: [1, 2] } }] } });
  });

  test('an insert takes GeoJSON; GeoJSON Hasura refuses is parse-failed at the value', async () => {
    const ok = await q(`mutation ($o: [places_insert_input!]!) { insert_places(objects: $o) {
      returning { name area } } }`, { o: [{ name: 'c', geom: { type: 'Point', coordinates: [3, 3] },
      area: { type: 'Point', coordinates: [3, 3], crs: CRS } }] });
    assert.deepEqual(ok, { data: { insert_places: { returning: [
      { name: 'c', area: { type: 'Point', crs: CRS, coordinates: [3, 3] } }] } } });
    const bad = await q(`mutation ($o: [places_insert_input!]!) { insert_places(objects: $o) {
      affected_rows } }`, { o: [{ name: 'd', geom: { type: 'LineString', coordinates: [[1, 2]] } }] });
    assert.equal(bad.errors[0].extensions.code, 'parse-failed', JSON.stringify(bad));
    assert.equal(bad.errors[0].message, 'A LineString needs at least 2 Positions');
    assert.equal(bad.errors[0].extensions.path, '$.selectionSet.insert_places.args.objects[0].geom');
    assert.equal(h.sql(db, "select count(*) from places where name = 'd'"), '0');
  });

  for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
    test(`a subscription filtered by _st_d_within sees an insert (${protocol})`, async () => {
      const c = h.connectClient(protocol, server.ws, admin);
      try {
        const got = new h.Collector('near ' + protocol);
        c.subscribe(`subscription { places(where: {geom: {_st_d_within: {distance: 1,
          from: {type: "Point", coordinates: [10, 20]}}}}, order_by: {id: asc}) { name } }`, {}, got);
        const first = (await got.next()).data.places.map((p) => p.name);
        assert.equal(first[0], 'b');
        const name = 'near-' + protocol;
        h.sql(db, `insert into places (name, geom) values ('${name}', ST_GeomFromEWKT('SRID=4326;POINT(10.5 20)'))`);
        const next = await got.next();
        assert.deepEqual(next.data.places.map((p) => p.name), [...first, name]);
      } finally {
        c.close();
      }
    });
  }
});
