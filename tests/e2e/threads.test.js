// liveql with --threads 4 (sessions on four I/O threads, the live core on its own): many
// concurrent subscribers on both protocols and concurrent HTTP queries, while rows change. Every
// subscriber must end on every round's value, never see a value go backwards or another row,
// and every HTTP answer must be a consistent snapshot.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_threads';
const ROWS = 24;          // orders 5000.. of user 1
const CLIENTS = 48;       // half per protocol
const PER_CLIENT = 3;     // subscriptions per client
const ROUNDS = 6;
const HTTP_PER_ROUND = 40;
const FIRST_ID = 5000;
const ORDER = 'subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id total } }';
const MINE = `query { orders(where: {id: {_gte: ${FIRST_ID}}}, order_by: {id: asc}) { id total } }`;
const auth = { Authorization: 'Bearer ' + h.jwt({ userId: '1' }) };

describe('--threads 4', () => {
  let db; let server;
  const clients = [];

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `insert into orders (id, user_id, status, total)
               select g, 1, 'placed', 0 from generate_series(${FIRST_ID}, ${FIRST_ID + ROWS - 1}) g`);
    server = await h.startLiveql(db, { extraArgs: ['--threads', '4'] });
  });
  after(async () => {
    for (const c of clients) c.close();
    if (server) await server.stop();
  });

  test('every subscriber gets every round; HTTP answers are consistent snapshots', async () => {
    // Opening all clients at once spreads them over the I/O threads (round robin).
    const subs = [];
    for (let i = 0; i < CLIENTS; ++i) {
      const protocol = i % 2 ? 'graphql-ws' : 'graphql-transport-ws';
      const c = h.connectClient(protocol, server.ws, auth);
      clients.push(c);
      for (let k = 0; k < PER_CLIENT; ++k) {
        const id = FIRST_ID + ((i * PER_CLIENT + k) % ROWS);
        const got = new h.Collector(`client ${i} (${protocol}) order ${id}`);
        c.subscribe(ORDER, { id }, got);
        subs.push({ id, got, total: -1 });
      }
    }

    // Consumes a subscriber's messages until it shows `total`; totals never go backwards and
    // always belong to its own row.
    const reach = async (s, total) => {
      while (s.total < total) {
        const v = await s.got.next(30000);
        assert.ok(v.data, `${s.got.name}: ${JSON.stringify(v)}`);
        assert.equal(v.data.orders.length, 1, `${s.got.name}: ${JSON.stringify(v)}`);
        assert.equal(v.data.orders[0].id, s.id);
        const t = Number(v.data.orders[0].total);
        assert.ok(t >= s.total, `${s.got.name}: went back from ${s.total} to ${t}`);
        s.total = t;
      }
      assert.equal(s.total, total, `${s.got.name}`);
    };
    await Promise.all(subs.map((s) => reach(s, 0)));

    const query = async () => {
      const res = await fetch(server.http + '/v1/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ query: MINE }),
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.ok(body.data, JSON.stringify(body));
      const rows = body.data.orders;
      assert.equal(rows.length, ROWS);
      // One statement, one snapshot: every row has the same total.
      const totals = new Set(rows.map((r) => Number(r.total)));
      assert.equal(totals.size, 1, JSON.stringify(rows));
      return [...totals][0];
    };

    let last = 0;
    for (let round = 1; round <= ROUNDS; ++round) {
      h.sql(db, `update orders set total = ${round} where id >= ${FIRST_ID}`);
      // Queries race the pushes of this round: each sees this round's commit (it is committed).
      const answers = await Promise.all([
        ...Array.from({ length: HTTP_PER_ROUND }, query),
        h.getJson(server.http + '/healthz').catch(() => null),
      ]);
      for (const a of answers.slice(0, HTTP_PER_ROUND)) assert.equal(a, round);
      await Promise.all(subs.map((s) => reach(s, round)));
      last = round;
    }
    assert.equal(last, ROUNDS);

    const m = await h.metrics(server.http);
    assert.equal(m.liveql_websocket_connections, CLIENTS);
    const cohorts = await h.getJson(server.http + '/v1/live/cohorts',
      { 'x-hasura-admin-secret': h.ADMIN_SECRET });
    const subscribers = cohorts.body.reduce((n, c) => n + c.subscribers, 0);
    assert.equal(subscribers, CLIENTS * PER_CLIENT);

    // Closing every client unsubscribes everything on the core.
    for (const c of clients) c.close();
    clients.length = 0;
    await h.waitFor(async () => {
      const after = await h.getJson(server.http + '/v1/live/cohorts',
        { 'x-hasura-admin-secret': h.ADMIN_SECRET });
      const left = after.body.reduce((n, c) => n + c.subscribers, 0);
      const conns = (await h.metrics(server.http)).liveql_websocket_connections;
      return left === 0 && conns === 0;
    }, 'every subscriber and connection gone', 30000);
  });

  test('SIGTERM stops cleanly with sessions on I/O threads', async () => {
    const c = h.connectClient('graphql-transport-ws', server.ws, auth);
    clients.push(c);
    const got = new h.Collector('last');
    c.subscribe(ORDER, { id: FIRST_ID }, got);
    await got.next();
    server.signal('SIGTERM');
    const exit = await server.exited;
    assert.equal(exit.code, 0, server.stderr());
  });
});
