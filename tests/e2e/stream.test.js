// Streaming subscriptions (<t>_stream) end to end, with both real clients: graphql-ws
// (graphql-transport-ws) and subscriptions-transport-ws (graphql-ws). Batches past the cursor,
// only new rows afterwards, the role's permission, commits racing the stream (every row exactly
// once, in cursor order), stream cohorts in /v1/live/cohorts, and HTTP's refusal.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const STREAM = 'subscription ($n: Int!, $from: Int!) { orders_stream(batch_size: $n, ' +
  'cursor: {initial_value: {id: $from}}) { id user_id } }';

// Reads batches until `count` rows arrived; returns the batches.
async function batches(got, count) {
  const out = [];
  let rows = 0;
  while (rows < count) {
    const v = await got.next(30000);
    if (!v.data) throw new Error(`${got.name}: expected a batch, got ${JSON.stringify(v)}`);
    out.push(v.data.orders_stream);
    rows += v.data.orders_stream.length;
  }
  return out;
}
const idsOf = (bs) => bs.flat().map((o) => o.id);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
  describe(`streaming subscriptions over ${protocol}`, () => {
    let db; let server;
    const dbName = 'liveql_e2e_stream_' + protocol.replace(/-/g, '_');
    const clients = [];
    const open = (headers) => { const c = h.connectClient(protocol, server.ws, headers); clients.push(c); return c; };
    const admin = () => open({ 'x-hasura-admin-secret': h.ADMIN_SECRET });
    const asUser = (id) => open({ Authorization: 'Bearer ' + h.jwt({ userId: String(id) }) });
    const maxId = () => Number(h.sql(db, 'select max(id) from orders'));

    before(async () => {
      db = h.freshDatabase(dbName);
      server = await h.startLiveql(db);
      await h.waitForReplication(server);
    });
    after(async () => {
      for (const c of clients) c.close();
      if (server) await server.stop();
    });

    test('batches past the cursor, then only new rows, in event mode', async () => {
      const got = new h.Collector('stream');
      admin().subscribe(STREAM, { n: 3, from: 1 }, got);
      // Orders 2..4 exist: one full batch of 3, then nothing until a row passes the cursor.
      assert.deepEqual(idsOf(await batches(got, 3)), [2, 3, 4]);
      h.sql(db, "update orders set status = 'delivered' where id = 3");  // behind the cursor
      h.sql(db, 'insert into orders (user_id) values (2)');
      const next = await got.next();
      assert.deepEqual(next.data.orders_stream.map((o) => o.id), [maxId()]);
      const res = await h.getJson(server.http + '/v1/live/cohorts', { 'x-hasura-admin-secret': h.ADMIN_SECRET });
      const cohort = res.body.find((c) => c.root_field === 'orders_stream');
      assert.equal(cohort.kind, 'stream');
      assert.equal(cohort.mode, 'event', JSON.stringify(cohort));
    });

    test('a role streams the rows its permission lets it see', async () => {
      const got = new h.Collector('user 1 stream');
      asUser(1).subscribe(STREAM, { n: 10, from: 0 }, got);
      const first = await batches(got, 2);
      assert.deepEqual(first.flat(), [{ id: 1, user_id: 1 }, { id: 2, user_id: 1 }]);
      h.sql(db, 'insert into orders (user_id) values (2)');  // another user's: not streamed
      h.sql(db, 'insert into orders (user_id) values (1)');
      const next = await got.next();
      assert.deepEqual(next.data.orders_stream, [{ id: maxId(), user_id: 1 }]);
    });

    test('commits racing the stream arrive exactly once, in cursor order', async () => {
      const start = maxId();
      const a = new h.Collector('batch 4'); const b = new h.Collector('batch 1');
      const c = admin();
      c.subscribe(STREAM, { n: 4, from: start }, a);
      c.subscribe(STREAM, { n: 1, from: start }, b);
      // 200 transactions, each committed on its own while the stream fetches.
      h.sql(db, 'do $$ begin for i in 1..200 loop insert into orders (user_id) values (1 + i % 3); ' +
        'commit; end loop; end $$');
      const ba = await batches(a, 200);
      const bb = await batches(b, 200);
      assert.deepEqual(idsOf(ba), range(start + 1, start + 200));
      assert.deepEqual(idsOf(bb), range(start + 1, start + 200));
      assert.ok(ba.every((x) => x.length >= 1 && x.length <= 4));
      assert.ok(bb.every((x) => x.length === 1));
      assert.equal(a.pending() + b.pending(), 0);
    });

    test('validation errors as Hasura words them', async () => {
      const got = new h.Collector('two cursors');
      admin().subscribe('subscription { orders_stream(batch_size: 1, cursor: {initial_value: ' +
        '{id: 1, user_id: 1}}) { id } }', {}, got);
      const v = await got.next();
      assert.ok(v.error, JSON.stringify(v));
      const text = JSON.stringify(v.error);
      assert.match(text, /multiple column cursors are not supported yet/);
    });
  });
}

describe('streaming subscriptions over HTTP', () => {
  let db; let server;
  before(async () => {
    db = h.freshDatabase('liveql_e2e_stream_http');
    server = await h.startLiveql(db);
  });
  after(async () => { if (server) await server.stop(); });

  test('are refused', async () => {
    const body = await h.graphql(server, STREAM, { n: 1, from: 0 }, { 'x-hasura-admin-secret': h.ADMIN_SECRET });
    assert.ok(body.errors && !body.data, JSON.stringify(body));
  });
});
