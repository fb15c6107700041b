// Mutations (issue 10) over real sockets: every root field kind, nested inserts through object
// and array relationships, on_conflict, the demo's insert/update/delete permissions (allowed,
// denied, presets from the session, checks that roll back), several root fields in one
// transaction, database errors in Hasura's shape, backend_only permissions, mutations over both
// websocket protocols, and a subscriber seeing a client's own mutation.
//
// The demo metadata (tools/demo/metadata) grants role `user` inserts of its own orders (user_id
// preset from the session), updates of status/notes with the check status != delivered, deletes
// of its `placed` orders, and inserts of order_items into its own orders; role `service` inserts
// users, backend_only.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_mutations';
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };
const asUser = (id) => ({ authorization: 'Bearer ' + h.jwt({ role: 'user', userId: String(id) }) });
const asAgent = (id) => ({ authorization: 'Bearer ' + h.jwt({ role: 'agent', userId: String(id) }) });
const CHECK_FAILED = 'check constraint of an insert/update permission has failed';

describe('mutations', () => {
  let db;
  let server;
  const q = (query, variables, headers = admin) => h.graphql(server, query, variables, headers);
  const count = (where) => Number(h.sql(db, `select count(*) from ${where}`));

  // Asserts one error with `code` (and `message`, when given) and no data.
  function assertError(res, code, message) {
    assert.ok(res.errors, 'expected an error, got ' + JSON.stringify(res));
    assert.equal(res.errors.length, 1, JSON.stringify(res));
    assert.equal(res.errors[0].extensions.code, code, JSON.stringify(res));
    if (message instanceof RegExp) assert.match(res.errors[0].message, message);
    else if (message !== undefined) assert.equal(res.errors[0].message, message);
    assert.equal(res.data, undefined);
  }

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    server = await h.startLiveql(db);
  });
  after(async () => { if (server) await server.stop(); });

  describe('root fields', () => {
    test('insert_<t>_one returns the row; a user’s user_id comes from the session preset', async () => {
      const res = await q(`mutation { insert_orders_one(object: {total: 9.5, notes: {gate: 2}}) {
        id user_id status total notes } }`, {}, asUser(2));
      assert.equal(res.errors, undefined, JSON.stringify(res));
      const row = res.data.insert_orders_one;
      assert.equal(row.user_id, 2);
      assert.equal(row.status, 'placed');
      assert.equal(Number(row.total), 9.5);
      assert.deepEqual(row.notes, { gate: 2 });
      assert.equal(h.sql(db, `select user_id || ':' || total from orders where id = ${row.id}`), '2:9.50');
    });

    test('insert_<t> with objects: affected_rows and returning, values as variables', async () => {
      const res = await q(`mutation ($rows: [orders_insert_input!]!) {
        insert_orders(objects: $rows) { affected_rows returning { user_id total } } }`,
      { rows: [{ user_id: 3, total: 1 }, { user_id: 3, total: 2 }] });
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(res.data.insert_orders.affected_rows, 2);
      assert.deepEqual(res.data.insert_orders.returning.map((r) => Number(r.total)).sort(), [1, 2]);
    });

    test('update_<t> with _set, _inc, _append and _delete_key', async () => {
      const id = Number(h.sql(db, `insert into orders (user_id, total, notes) values (1, 10, '{"door": "back"}') returning id`));
      const res = await q(`mutation ($id: Int!) {
        update_orders(where: {id: {_eq: $id}}, _set: {status: "preparing"}, _inc: {total: 2.5},
                      _append: {notes: {bell: true}}) { affected_rows returning { id status total notes } } }`,
      { id });
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(res.data.update_orders.affected_rows, 1);
      const row = res.data.update_orders.returning[0];
      assert.equal(row.status, 'preparing');
      assert.equal(Number(row.total), 12.5);
      assert.deepEqual(row.notes, { door: 'back', bell: true });
      const del = await q(`mutation ($id: Int!) {
        update_orders(where: {id: {_eq: $id}}, _delete_key: {notes: "door"}) { returning { notes } } }`, { id });
      assert.deepEqual(del.data.update_orders.returning[0].notes, { bell: true });
    });

    test('update_<t>_by_pk returns the row, or null when no row has that key', async () => {
      const res = await q(`mutation { a: update_orders_by_pk(pk_columns: {id: 2}, _set: {total: 13}) { id total }
        b: update_orders_by_pk(pk_columns: {id: 999999}, _set: {total: 13}) { id } }`);
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(Number(res.data.a.total), 13);
      assert.equal(res.data.b, null);
    });

    test('update_<t>_many runs its updates in order, the second seeing the first', async () => {
      const id = Number(h.sql(db, `insert into orders (user_id, total) values (1, 1) returning id`));
      const res = await q(`mutation ($id: Int!) { update_orders_many(updates: [
          {where: {id: {_eq: $id}}, _set: {total: 5}},
          {where: {id: {_eq: $id}}, _inc: {total: 1}}]) { affected_rows returning { total } } }`, { id });
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.deepEqual(res.data.update_orders_many.map((r) => [r.affected_rows, Number(r.returning[0].total)]),
        [[1, 5], [1, 6]]);
    });

    test('delete_<t> and delete_<t>_by_pk', async () => {
      const id = Number(h.sql(db, `insert into orders (user_id) values (3) returning id`));
      h.sql(db, `insert into order_items (order_id, name, quantity, price) values (${id}, 'a', 1, 1), (${id}, 'b', 1, 1)`);
      const res = await q(`mutation ($id: Int!) {
        delete_order_items(where: {order_id: {_eq: $id}}) { affected_rows returning { name } }
        delete_orders_by_pk(id: $id) { id user_id } }`, { id });
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(res.data.delete_order_items.affected_rows, 2);
      assert.deepEqual(res.data.delete_orders_by_pk, { id, user_id: 3 });
      assert.equal(count(`orders where id = ${id}`), 0);
    });

    test('returning selects relationships and aggregates', async () => {
      const res = await q(`mutation { update_orders(where: {id: {_eq: 1}}, _set: {notes: {door: "back"}}) {
        returning { id user { name } items_aggregate { aggregate { count } } } } }`);
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.deepEqual(res.data.update_orders.returning,
        [{ id: 1, user: { name: 'Alice' }, items_aggregate: { aggregate: { count: 2 } } }]);
    });
  });

  describe('nested inserts', () => {
    test('array relationship: the order, then its items', async () => {
      const res = await q(`mutation { insert_orders_one(object: {total: 7, items: {data: [
          {name: "Soup", quantity: 1, price: 4}, {name: "Bread", quantity: 2, price: 1.5}]}}) {
        id user_id items(order_by: {name: asc}) { name order_id } } }`, {}, asUser(1));
      assert.equal(res.errors, undefined, JSON.stringify(res));
      const order = res.data.insert_orders_one;
      assert.equal(order.user_id, 1);
      assert.deepEqual(order.items, [{ name: 'Bread', order_id: order.id }, { name: 'Soup', order_id: order.id }]);
    });

    test('object relationship: the order first, the item linked to it; affected_rows counts both', async () => {
      const res = await q(`mutation { insert_order_items(objects: [{name: "Tea", quantity: 1, price: 2,
          order: {data: {total: 2}}}]) { affected_rows returning { name order { user_id total } } } }`, {}, asUser(2));
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(res.data.insert_order_items.affected_rows, 2);
      const item = res.data.insert_order_items.returning[0];
      assert.equal(item.order.user_id, 2);
      assert.equal(Number(item.order.total), 2);
    });

    test('a nested row failing its check rolls back the parent too', async () => {
      const before = count('orders');
      // The item is checked through its order; an item of another user's order fails.
      const res = await q(`mutation { insert_order_items_one(object: {order_id: 3, name: "X", quantity: 1, price: 1}) { id } }`,
        {}, asUser(1));
      assertError(res, 'permission-error', CHECK_FAILED);
      const nested = await q(`mutation { insert_orders_one(object: {total: 1, items: {data: [{name: "ok", quantity: 0, price: 1}]}}) { id } }`,
        {}, asUser(1));
      assertError(nested, 'permission-error', /^Check constraint violation\. new row for relation "order_items" violates check constraint/);
      assert.equal(count('orders'), before);
    });
  });

  describe('on_conflict', () => {
    test('update_columns updates the existing row', async () => {
      const res = await q(`mutation { insert_users_one(object: {name: "Alice B.", email: "alice@example.com"},
          on_conflict: {constraint: users_email_key, update_columns: [name]}) { id name } }`);
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.deepEqual(res.data.insert_users_one, { id: 1, name: 'Alice B.' });
    });

    test('an empty update_columns does nothing: _one answers null, insert_<t> 0 rows', async () => {
      const res = await q(`mutation {
        one: insert_users_one(object: {name: "dup", email: "bob@example.com"},
          on_conflict: {constraint: users_email_key, update_columns: []}) { id }
        many: insert_users(objects: [{name: "dup", email: "bob@example.com"}],
          on_conflict: {constraint: users_email_key, update_columns: []}) { affected_rows } }`);
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(res.data.one, null);
      assert.equal(res.data.many.affected_rows, 0);
      assert.equal(h.sql(db, `select name from users where email = 'bob@example.com'`), 'Bob');
    });

    test('its where limits which conflicting rows are updated', async () => {
      const res = await q(`mutation { insert_users(objects: [{name: "Carol C.", email: "carol@example.com"}],
          on_conflict: {constraint: users_email_key, update_columns: [name], where: {id: {_eq: 999}}}) { affected_rows } }`);
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.equal(res.data.insert_users.affected_rows, 0);
      assert.equal(h.sql(db, `select name from users where email = 'carol@example.com'`), 'Carol');
    });
  });

  describe('permissions', () => {
    test('a column the role may not insert is not in its input type', async () => {
      const res = await q('mutation { insert_orders_one(object: {user_id: 3, total: 1}) { id } }', {}, asUser(1));
      assertError(res, 'validation-failed', /user_id/);
    });

    test('a role without a permission has no such root field', async () => {
      const res = await q('mutation { insert_orders_one(object: {total: 1}) { id } }', {}, asAgent(1));
      assertError(res, 'validation-failed', /insert_orders_one/);
    });

    test('update: the filter hides other users’ rows, the check refuses a delivered status', async () => {
      const other = await q('mutation { update_orders_by_pk(pk_columns: {id: 3}, _set: {notes: {x: 1}}) { id } }', {}, asUser(1));
      assert.equal(other.errors, undefined, JSON.stringify(other));
      assert.equal(other.data.update_orders_by_pk, null);
      const id = Number(h.sql(db, `insert into orders (user_id) values (1) returning id`));
      const denied = await q(`mutation ($id: Int!) { update_orders_by_pk(pk_columns: {id: $id}, _set: {status: "delivered"}) { id } }`,
        { id }, asUser(1));
      assertError(denied, 'permission-error', CHECK_FAILED);
      assert.equal(h.sql(db, `select status from orders where id = ${id}`), 'placed');
      const allowed = await q(`mutation ($id: Int!) { update_orders_by_pk(pk_columns: {id: $id}, _set: {status: "cancelled"}) { status } }`,
        { id }, asUser(1));
      assert.deepEqual(allowed.data, { update_orders_by_pk: { status: 'cancelled' } });
    });

    test('delete: only the rows the filter allows', async () => {
      const placed = Number(h.sql(db, `insert into orders (user_id) values (2) returning id`));
      const res = await q(`mutation { delete_orders(where: {user_id: {_eq: 2}}) { affected_rows returning { id } } }`, {}, asUser(2));
      assert.equal(res.errors, undefined, JSON.stringify(res));
      // Order 3 (user 2, delivering) stays; only `placed` ones go.
      assert.ok(res.data.delete_orders.returning.some((r) => r.id === placed));
      assert.equal(count('orders where id = 3'), 1);
      assert.equal(count(`orders where id = ${placed}`), 0);
    });

    test('returning shows only what the select permission allows', async () => {
      // The agent's select permission has no `total` column.
      const res = await q('mutation { update_orders_by_pk(pk_columns: {id: 3}, _set: {status: "delivered"}) { id total } }', {}, asAgent(1));
      assertError(res, 'validation-failed', /total/);
      const ok = await q('mutation { update_orders_by_pk(pk_columns: {id: 3}, _set: {status: "delivered"}) { id status } }', {}, asAgent(1));
      assert.deepEqual(ok.data, { update_orders_by_pk: { id: 3, status: 'delivered' } });
    });

    test('backend_only: only with x-hasura-use-backend-only-permissions', async () => {
      const service = { ...admin, 'x-hasura-role': 'service' };
      const query = 'mutation { insert_users(objects: [{name: "Zed", email: "zed@example.com"}]) { affected_rows } }';
      // Without the header the role has no mutation at all (its only one is backend_only).
      const front = await q(query, {}, service);
      assertError(front, 'validation-failed', 'no mutations exist');
      const back = await q(query, {}, { ...service, 'x-hasura-use-backend-only-permissions': 'true' });
      assert.equal(back.errors, undefined, JSON.stringify(back));
      assert.equal(back.data.insert_users.affected_rows, 1);
    });
  });

  describe('transactions and errors', () => {
    test('root fields run in order in one transaction; an error in the last rolls back all', async () => {
      const before = count('orders');
      const res = await q(`mutation {
        a: insert_orders_one(object: {total: 1}) { id }
        b: update_orders(where: {user_id: {_eq: 1}}, _set: {notes: {rolled: "back"}}) { affected_rows }
        c: insert_order_items_one(object: {order_id: 3, name: "X", quantity: 1, price: 1}) { id } }`, {}, asUser(1));
      assertError(res, 'permission-error', CHECK_FAILED);
      assert.equal(count('orders'), before);
      assert.equal(count(`orders where notes->>'rolled' = 'back'`), 0);
    });

    test('a later root field sees what an earlier one wrote', async () => {
      const res = await q(`mutation {
        a: insert_users_one(object: {name: "Yan", email: "yan@example.com"}) { id }
        b: update_users(where: {email: {_eq: "yan@example.com"}}, _set: {name: "Yan Y."}) { returning { name } } }`);
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.deepEqual(res.data.b.returning, [{ name: 'Yan Y.' }]);
    });

    test('unique, foreign key and not-null violations: constraint-violation', async () => {
      assertError(await q('mutation { insert_users_one(object: {name: "A", email: "alice@example.com"}) { id } }'),
        'constraint-violation', /^Uniqueness violation\. duplicate key value violates unique constraint "users_email_key"/);
      assertError(await q('mutation { insert_orders_one(object: {user_id: 424242}) { id } }'),
        'constraint-violation', /^Foreign key violation\./);
      assertError(await q('mutation { insert_users_one(object: {name: "A"}) { id } }'),
        'constraint-violation', /^Not-NULL violation\./);
    });

    test('bad values: data-exception', async () => {
      const res = await q('mutation { insert_orders_one(object: {user_id: 1, status: "lost"}) { id } }');
      assertError(res, 'data-exception');
    });

    test('a non-admin sees the violation but no database internals', async () => {
      const res = await q('mutation { insert_order_items_one(object: {order_id: 2, name: "none", quantity: 0, price: 1}) { id } }',
        {}, asUser(1));
      assertError(res, 'permission-error', /^Check constraint violation\./);
      assert.equal(res.errors[0].extensions.internal, undefined);
    });
  });

  describe('/v1alpha1/graphql (Hasura\'s older endpoint)', () => {
    const post = async (body, headers) => {
      const res = await fetch(server.http + '/v1alpha1/graphql', {
        method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };

    test('answers as /v1/graphql, but an error with its HTTP status', async () => {
      const ok = await post({ query: 'query a { users_by_pk(id: 1) { id } } query b { users_by_pk(id: 2) { id } }', operationName: 'b' }, admin);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { data: { users_by_pk: { id: 2 } } });
      const del = await post({ query: 'mutation { delete_orders(where: {id: {_eq: -1}}) { affected_rows } }' }, admin);
      assert.deepEqual(del, { status: 200, body: { data: { delete_orders: { affected_rows: 0 } } } });
      const invalid = await post({ query: '{ orders { nope } }' }, admin);
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.errors[0].extensions.code, 'validation-failed');
      const denied = await post({ query: '{ orders { id } }' }, { 'x-hasura-admin-secret': 'wrong' });
      assert.equal(denied.status, 401);
      assert.equal(denied.body.errors[0].extensions.code, 'access-denied');
      const id = Number(h.sql(db, 'insert into orders (user_id, total) values (1, 1) returning id'));
      const dup = await post({ query: `mutation { insert_orders_one(object: {id: ${id}, user_id: 1, total: 2}) { id } }` }, admin);
      assert.equal(dup.status, 400);
      assert.equal(dup.body.errors[0].extensions.code, 'constraint-violation');
    });

    test('websockets there: same protocol, errors in Hasura\'s legacy {path, error, code} form', async () => {
      const s = h.rawWs(server.ws.replace('/v1/graphql', '/v1alpha1/graphql'), 'graphql-ws');
      try {
        await s.opened;
        s.send({ type: 'connection_init', payload: { headers: admin } });
        assert.equal((await s.messages.next()).type, 'connection_ack');
        s.send({ type: 'start', id: '1', payload: { query: '{ users_by_pk(id: 1) { id } }' } });
        assert.deepEqual(await s.messages.next(), { type: 'data', id: '1', payload: { data: { users_by_pk: { id: 1 } } } });
        assert.equal((await s.messages.next()).type, 'complete');
        s.send({ type: 'start', id: '2', payload: { query: '{ orders { nope } }' } });
        const err = await s.messages.next();
        assert.equal(err.type, 'error');
        assert.equal(err.payload.errors[0].code, 'validation-failed');
        assert.match(err.payload.errors[0].error, /nope/);
      } finally {
        s.ws.close();
      }
    });
  });

  describe('over websockets, and live', () => {
    for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
      test(`${protocol}: a mutation answers once and completes; the subscriber sees it`, async () => {
        const client = h.connectClient(protocol, server.ws, asUser(3));
        try {
          const live = new h.Collector('orders of user 3');
          client.subscribe('subscription { orders(order_by: {id: asc}) { id total } }', {}, live);
          const first = await live.next();
          assert.equal(first.errors, undefined, JSON.stringify(first));
          const total = 100 + (protocol === 'graphql-ws' ? 1 : 0);
          const answer = new h.Collector('mutation');
          client.subscribe(`mutation ($t: numeric!) { insert_orders_one(object: {total: $t}) { id } }`, { t: total }, answer);
          const reply = await answer.next();
          assert.equal(reply.errors, undefined, JSON.stringify(reply));
          const id = reply.data.insert_orders_one.id;
          assert.deepEqual(await answer.next(), { complete: true });
          // The push for the client's own mutation, on the same socket.
          for (;;) {
            const v = await live.next();
            assert.equal(v.errors, undefined, JSON.stringify(v));
            const row = v.data.orders.find((o) => o.id === id);
            if (row) { assert.equal(Number(row.total), total); break; }
          }
          assert.equal(answer.pending(), 0);
        } finally {
          client.close();
        }
      });
    }

    test('a mutation failing while it runs: Apollo gets data {data: null, errors}, graphql-ws an error', async () => {
      const id = Number(h.sql(db, 'insert into orders (user_id, total) values (1, 1) returning id'));
      const dup = { query: `mutation { insert_orders_one(object: {id: ${id}, user_id: 1, total: 2}) { id } }` };
      const apollo = h.rawWs(server.ws, 'graphql-ws');
      const modern = h.rawWs(server.ws, 'graphql-transport-ws');
      try {
        await Promise.all([apollo.opened, modern.opened]);
        for (const s of [apollo, modern]) {
          s.send({ type: 'connection_init', payload: { headers: admin } });
          assert.equal((await s.messages.next()).type, 'connection_ack');
        }
        apollo.send({ type: 'start', id: 'a', payload: dup });
        const data = await apollo.messages.next();
        assert.equal(data.type, 'data', JSON.stringify(data));
        assert.equal(data.payload.data, null);
        assert.equal(data.payload.errors[0].extensions.code, 'constraint-violation');
        assert.deepEqual(await apollo.messages.next(), { type: 'complete', id: 'a' });
        // A validation error is still an `error` message (nothing ran).
        apollo.send({ type: 'start', id: 'b', payload: { query: '{ orders { nope } }' } });
        const invalid = await apollo.messages.next();
        assert.equal(invalid.type, 'error');
        assert.equal(invalid.payload.errors[0].extensions.code, 'validation-failed');
        modern.send({ type: 'subscribe', id: 'm', payload: dup });
        const err = await modern.messages.next();
        assert.equal(err.type, 'error', JSON.stringify(err));
        assert.equal(err.payload[0].extensions.code, 'constraint-violation');
      } finally {
        apollo.ws.close();
        modern.ws.close();
      }
    });

    test('a mutation over HTTP reaches a subscriber of another client', async () => {
      const client = h.connectClient('graphql-transport-ws', server.ws, admin);
      try {
        const live = new h.Collector('user 2');
        client.subscribe('subscription { users_by_pk(id: 2) { name } }', {}, live);
        assert.deepEqual((await live.next()).data, { users_by_pk: { name: 'Bob' } });
        const res = await q('mutation { update_users_by_pk(pk_columns: {id: 2}, _set: {name: "Bobby"}) { name } }', {}, asUser(2));
        assert.deepEqual(res.data, { update_users_by_pk: { name: 'Bobby' } });
        assert.deepEqual((await live.next()).data, { users_by_pk: { name: 'Bobby' } });
      } finally {
        client.close();
      }
    });
  });

  describe('--stringify-numeric-types (HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES)', () => {
    let strServer;
    before(async () => {
      strServer = await h.startLiveql(db, { env: { HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true' } });
    });
    after(async () => { if (strServer) await strServer.stop(); });
    const sq = (query, variables = {}) => h.graphql(strServer, query, variables, admin);

    test('numeric comes out as a string in queries, aggregates and returning; integers stay numbers', async () => {
      const id = Number(h.sql(db, 'insert into order_items (order_id, name, quantity, price) values ((select min(id) from orders), \'tea\', 2, 3.50) returning id'));
      const res = await sq(`query ($id: Int!) { order_items_by_pk(id: $id) { id quantity price }
        order_items_aggregate(where: {id: {_eq: $id}}) { aggregate { count sum { price quantity } max { price } } } }`, { id });
      assert.equal(res.errors, undefined, JSON.stringify(res));
      assert.deepEqual(res.data.order_items_by_pk, { id, quantity: 2, price: '3.50' });
      assert.deepEqual(res.data.order_items_aggregate.aggregate,
        { count: 1, sum: { price: '3.50', quantity: 2 }, max: { price: '3.50' } });
      const upd = await sq(`mutation ($id: Int!) { update_order_items_by_pk(pk_columns: {id: $id}, _inc: {price: 0.25}) { price }
        update_order_items(where: {id: {_eq: $id}}, _set: {quantity: 3}) { affected_rows returning { quantity price } } }`, { id });
      assert.equal(upd.errors, undefined, JSON.stringify(upd));
      assert.deepEqual(upd.data, {
        update_order_items_by_pk: { price: '3.75' },
        update_order_items: { affected_rows: 1, returning: [{ quantity: 3, price: '3.75' }] },
      });
      // The first server (the default) still answers numbers.
      const plain = await q('query ($id: Int!) { order_items_by_pk(id: $id) { price } }', { id });
      assert.deepEqual(plain.data, { order_items_by_pk: { price: 3.75 } });
    });

    test('and in subscriptions', async () => {
      const id = Number(h.sql(db, 'insert into order_items (order_id, name, quantity, price) values ((select min(id) from orders), \'soup\', 1, 7) returning id'));
      const client = h.connectClient('graphql-transport-ws', strServer.ws, admin);
      try {
        const live = new h.Collector('order item');
        client.subscribe(`subscription { order_items_by_pk(id: ${id}) { price } }`, {}, live);
        assert.deepEqual((await live.next()).data, { order_items_by_pk: { price: '7.00' } });
        h.sql(db, `update order_items set price = 8.5 where id = ${id}`);
        assert.deepEqual((await live.next()).data, { order_items_by_pk: { price: '8.50' } });
      } finally {
        client.close();
      }
    });
  });
});
