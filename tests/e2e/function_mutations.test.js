// Tracked VOLATILE functions as mutations over real sockets: a root field of mutation_root that
// calls the function with the session argument, inside the operation's transaction (a later
// root field's error rolls it back), over HTTP and both websocket clients; its commit reaches a
// subscriber through replication like any write. An overloaded function in the metadata is left
// out and reported (/healthz), the rest served.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_function_mutations';
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };
const asPlayer = { ...admin, 'x-hasura-role': 'player' };
const METADATA = `version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: player}
    live_mode: event
    select_permissions:
    - role: player
      permission: {columns: [id, name, score], filter: {}}
  functions:
  - function: add_to_score
    configuration: {session_argument: hasura_session}
    permissions: [{role: player}]
  - function: twice
`;

describe('function mutations', () => {
  let db;
  let server;

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `create table player (id int primary key, name text not null, score int not null,
        echo text not null default '');
      insert into player values (1, 'Ann', 0), (2, 'Ben', 10);
      create function add_to_score(hasura_session json, who text, increment int default 1)
      returns setof player as $$
        update player set score = score + increment where name = who
        returning id, name, score, hasura_session ->> 'x-hasura-role'
      $$ language sql volatile;
      create function twice() returns setof player as $$ select * from player $$ language sql stable;
      create function twice(n int) returns setof player as $$ select * from player $$ language sql stable;`);
    server = await h.startLiveql(db, { metadataYaml: METADATA });
    await h.waitForReplication(server);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('over HTTP: the function runs with the session and answers the rows', async () => {
    const res = await h.graphql(server, `mutation ($who: String!) {
      add_to_score(args: {who: $who, increment: 5}) { name score echo } }`, { who: 'Ben' }, admin);
    assert.deepEqual(res, { data: { add_to_score: [{ name: 'Ben', score: 15, echo: 'admin' }] } });
    // Not a query.
    const q = await h.graphql(server, '{ add_to_score(args: {who: "Ben"}) { name } }', {}, admin);
    assert.equal(q.errors[0].extensions.code, 'validation-failed');
    assert.match(q.errors[0].message, /add_to_score/);
  });

  test('a later root field failing rolls the function\'s writes back', async () => {
    const res = await h.graphql(server, `mutation {
      add_to_score(args: {who: "Ann", increment: 100}) { score }
      insert_player_one(object: {id: 1, name: "dup", score: 0}) { id } }`, {}, admin);
    assert.equal(res.errors[0].extensions.code, 'constraint-violation', JSON.stringify(res));
    assert.equal(h.sql(db, 'select score from player where id = 1'), '0');
  });

  test('the overloaded function is left out, reported, and the rest served', async () => {
    const res = await h.graphql(server, '{ twice { id } }', {}, admin);
    assert.match(res.errors[0].message, /twice/);
    const health = await fetch(server.http + '/healthz');
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'WARN: inconsistent objects in schema');
  });

  for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
    test(`${protocol}: a function mutation answers once, and the subscriber sees its commit`, async () => {
      const client = h.connectClient(protocol, server.ws, asPlayer);
      try {
        const live = new h.Collector('players');
        client.subscribe('subscription { player(order_by: {id: asc}) { id score } }', {}, live);
        const first = await live.next();
        assert.equal(first.errors, undefined, JSON.stringify(first));
        const before = first.data.player.find((p) => p.id === 1).score;
        const answer = new h.Collector('mutation');
        client.subscribe('mutation { add_to_score(args: {who: "Ann", increment: 2}) { id score } }', {}, answer);
        const reply = await answer.next();
        assert.deepEqual(reply, { data: { add_to_score: [{ id: 1, score: before + 2 }] } });
        assert.deepEqual(await answer.next(), { complete: true });
        for (;;) {
          const v = await live.next();
          assert.equal(v.errors, undefined, JSON.stringify(v));
          if (v.data.player.find((p) => p.id === 1).score === before + 2) break;
        }
      } finally {
        client.close();
      }
    });
  }
});
