// Tracked SQL functions and computed fields over real sockets: a root field backed by a STABLE
// function with the session argument, a computed field (also in a mutation's `returning`), and
// a live query over the function through both websocket clients. What a function reads is
// unknown, so its cohort polls, says why, and still sees a committed change.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_functions';
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };
const METADATA = `version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: profile}
    computed_fields:
    - name: shout
      definition: {function: profile_shout}
    select_permissions:
    - role: user
      permission: {columns: [id, name], computed_fields: [shout], filter: {}}
  functions:
  - function: {schema: public, name: me}
    configuration: {session_argument: hasura_session}
`;

describe('functions', () => {
  let db;
  let server;

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `create table profile (id text primary key, name text not null);
      insert into profile values ('10', 'Miles'), ('42', 'Charlie');
      create function me(hasura_session json) returns setof profile as $$
        select * from profile where id = hasura_session ->> 'x-hasura-user-id'
      $$ language sql stable;
      create function profile_shout(profile) returns text as $$
        select upper($1.name)
      $$ language sql stable;`);
    server = await h.startLiveql(db, { metadataYaml: METADATA });
    await h.waitForReplication(server);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('a function with the session argument and a computed field over HTTP', async () => {
    const res = await h.graphql(server, '{ me { id name shout } }', {},
      { ...admin, 'x-hasura-role': 'user', 'x-hasura-user-id': '42' });
    assert.deepEqual(res, { data: { me: [{ id: '42', name: 'Charlie', shout: 'CHARLIE' }] } });
  });

  test('a computed field in a mutation\'s returning', async () => {
    const res = await h.graphql(server, `mutation { insert_profile(objects: [{id: "99", name: "Zoe"}]) {
      returning { id shout } } }`, {}, admin);
    assert.deepEqual(res, { data: { insert_profile: { returning: [{ id: '99', shout: 'ZOE' }] } } });
  });

  for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
    test(`${protocol}: a live query over a function polls, says why, and sees a commit`, async () => {
      const user = `${protocol === 'graphql-ws' ? 7 : 8}`;
      h.sql(db, `delete from profile where id = '${user}'`);
      const client = h.connectClient(protocol, server.ws,
        { ...admin, 'x-hasura-role': 'user', 'x-hasura-user-id': user });
      try {
        const got = new h.Collector(protocol);
        client.subscribe('subscription { me { id name shout } }', {}, got);
        await got.expectNext((v) => v.data && v.data.me.length === 0, 'nobody yet');
        const cohorts = await h.getJson(server.http + '/v1/live/cohorts', admin);
        const cohort = cohorts.body.find((c) => c.root_field === 'me');
        assert.equal(cohort && cohort.mode, 'poll', JSON.stringify(cohorts.body));
        assert.match(JSON.stringify(cohort), /reads function public\.me/);
        h.sql(db, `insert into profile values ('${user}', 'Ada')`);
        await got.expectNext((v) => JSON.stringify(v.data) ===
          JSON.stringify({ me: [{ id: user, name: 'Ada', shout: 'ADA' }] }), 'the new profile');
      } finally {
        client.close();
      }
    });
  }
});
