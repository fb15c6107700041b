// Live queries end to end, with both real clients: graphql-ws (graphql-transport-ws) and
// subscriptions-transport-ws (Apollo's graphql-ws).
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const ORDERS = 'subscription { orders(order_by: {id: asc}) { id status } }';
const ids = (v) => (v.data ? v.data.orders.map((o) => o.id) : null);

for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
  describe(`live queries over ${protocol}`, () => {
    let db; let server;
    const dbName = 'liveql_e2e_' + protocol.replace(/-/g, '_');
    const clients = [];
    const open = (headers) => { const c = h.connectClient(protocol, server.ws, headers); clients.push(c); return c; };
    const asUser = (id) => open({ Authorization: 'Bearer ' + h.jwt({ userId: String(id) }) });

    before(async () => {
      db = h.freshDatabase(dbName);
      server = await h.startLiveql(db);
    });
    after(async () => {
      for (const c of clients) c.close();
      if (server) await server.stop();
    });

    test('first result, committed changes, no-op, leaving rows, other users, stop', async () => {
      const c = asUser(1);
      const got = new h.Collector('user1 orders');
      const stop = c.subscribe(ORDERS, {}, got);
      assert.deepEqual(ids(await got.next()), [1, 2]);

      h.sql(db, "update orders set status = 'preparing' where id = 2");
      const changed = await got.next();
      assert.equal(changed.data.orders.find((o) => o.id === 2).status, 'preparing');

      // A no-op update and another user's change must push nothing: the next message this
      // subscriber sees is the one caused by the insert after them.
      h.sql(db, "update orders set status = 'preparing' where id = 2");
      h.sql(db, "update orders set status = 'preparing' where id = 3");
      h.sql(db, "insert into orders (id, user_id, status) values (100, 1, 'placed')");
      assert.deepEqual(ids(await got.next()), [1, 2, 100]);

      // A row that leaves the filter disappears.
      h.sql(db, 'update orders set user_id = 2 where id = 100');
      assert.deepEqual(ids(await got.next()), [1, 2]);

      // After stop nothing arrives: a second subscription on the same connection is the barrier.
      const barrier = new h.Collector('barrier');
      c.subscribe(ORDERS, {}, barrier);
      assert.deepEqual(ids(await barrier.next()), [1, 2]);
      stop();
      h.sql(db, "insert into orders (id, user_id, status) values (101, 1, 'placed')");
      assert.deepEqual(ids(await barrier.next()), [1, 2, 101]);
      // graphql-ws completes a disposed subscription's sink itself; nothing else may follow.
      const after = got.items.filter((v) => !v.complete);
      assert.deepEqual(after, [], 'a stopped subscription received a message');
    });

    test('a query over the socket gets one result and completes', async () => {
      const c = asUser(1);
      const got = new h.Collector('query');
      c.subscribe('query { users { id name } }', {}, got);
      const first = await got.next();
      assert.deepEqual(first.data, { users: [{ id: 1, name: 'Alice' }] });
      assert.deepEqual(await got.next(), { complete: true });
    });

    test('two users on the same query share one cohort', async () => {
      const q = 'subscription { order_items(order_by: {id: asc}) { id name } }';
      const a = new h.Collector('u2'); const b = new h.Collector('u3');
      asUser(2).subscribe(q, {}, a);
      asUser(3).subscribe(q, {}, b);
      assert.deepEqual((await a.next()).data.order_items.map((i) => i.id), [4, 5]);
      assert.deepEqual((await b.next()).data.order_items.map((i) => i.id), [6]);
      const res = await h.getJson(server.http + '/v1/live/cohorts', { 'x-hasura-admin-secret': h.ADMIN_SECRET });
      assert.equal(res.status, 200);
      const cohorts = res.body.filter((c) => c.role === 'user' && c.root_field === 'order_items');
      assert.equal(cohorts.length, 1, JSON.stringify(res.body));
      assert.equal(cohorts[0].subscribers, 2);
    });

    test('validation errors arrive in Hasura shape', async () => {
      const got = new h.Collector('bad field');
      asUser(1).subscribe('subscription { orders { bogus } }', {}, got);
      const v = await got.next();
      assert.ok(v.error, JSON.stringify(v));
      const errors = Array.isArray(v.error) ? v.error : v.error.errors || [v.error];
      assert.equal(errors[0].extensions.code, 'validation-failed');
    });
  });
}
