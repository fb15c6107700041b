// Operation limits end to end: hostile documents from an ordinary user are refused before they
// cost anything, over HTTP and both websocket clients, while other subscribers keep receiving
// their updates.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const ORDERS = 'subscription { orders(order_by: {id: asc}) { id status } }';
const ids = (v) => (v.data ? v.data.orders.map((o) => o.id) : null);
const errorsOf = (v) => (Array.isArray(v.error) ? v.error : v.error.errors || [v.error]);

// The issue's fan-out: F0 spreads F1 ten times, F1 spreads F2 ten times, ...: `levels` levels
// expand to 10^levels fields.
function fanOut(levels, op = 'query') {
  let q = `${op} { users { ...F0 } }\n`;
  for (let i = 0; i < levels; i++) q += `fragment F${i} on users {${` ...F${i + 1}`.repeat(10)} }\n`;
  return q + `fragment F${levels} on users { id }\n`;
}

// `{ users { a0: orders { id } a1: orders { id } ... } }`
function aliases(n, op = 'query') {
  let q = `${op} { users {`;
  for (let i = 0; i < n; i++) q += ` a${i}: orders { id }`;
  return q + ' } }';
}

describe('operation limits', () => {
  let db; let server;
  const clients = [];
  const userHeaders = (id) => ({ Authorization: 'Bearer ' + h.jwt({ userId: String(id) }) });
  const open = (protocol, id) => {
    const c = h.connectClient(protocol, server.ws, userHeaders(id));
    clients.push(c);
    return c;
  };
  const post = async (body, id = 2) => {
    const res = await fetch(server.http + '/v1/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...userHeaders(id) },
      body: JSON.stringify(body),
    });
    return res.json();
  };

  before(async () => {
    db = h.freshDatabase('liveql_e2e_limits');
    server = await h.startLiveql(db);
  });
  after(async () => {
    for (const c of clients) c.close();
    if (server) await server.stop();
  });

  test('a 10-level fragment fan-out is refused fast while a subscriber keeps receiving', async () => {
    const watcher = open('graphql-transport-ws', 1);
    const got = new h.Collector('user1 orders');
    watcher.subscribe(ORDERS, {}, got);
    assert.deepEqual(ids(await got.next()), [1, 2]);

    const doc = fanOut(10);
    assert.ok(doc.length < 1000, `the attack is ${doc.length} bytes`);
    const started = Date.now();
    const first = await post({ query: doc });
    const elapsed = Date.now() - started;
    assert.equal(first.errors[0].extensions.code, 'validation-failed', JSON.stringify(first));
    assert.match(first.errors[0].message,
      /^the operation selects 10000000001 fields, more than the limit of \d+ \(--max-fields\)$/);
    // Generous: expanding it would hold the event loop for minutes; refusing it takes
    // milliseconds.
    assert.ok(elapsed < 1000, `refused after ${elapsed} ms`);

    // Keep attacking over HTTP and both websocket protocols while rows change.
    const attackers = ['graphql-transport-ws', 'graphql-ws'].map((p) => open(p, 2));
    const refusals = [];
    const attacks = [];
    for (let round = 0; round < 3; round++) {
      for (const a of attackers) {
        const c = new h.Collector('attack');
        refusals.push(c);
        a.subscribe(fanOut(10, 'subscription'), {}, c);
      }
      attacks.push(post({ query: doc }));
      h.sql(db, `insert into orders (id, user_id, status) values (${200 + round}, 1, 'placed')`);
    }
    // Every write reaches the subscriber (pushes may coalesce; the last state must arrive).
    for (;;) {
      const v = await got.next();
      assert.ok(v.data, JSON.stringify(v));
      if (ids(v).includes(202)) break;
    }
    const now = await post({ query: 'query { orders(order_by: {id: asc}) { id } }' }, 1);
    assert.deepEqual(ids(now), [1, 2, 200, 201, 202]);
    for (const body of await Promise.all(attacks)) {
      assert.match(body.errors[0].message, /\(--max-fields\)$/, JSON.stringify(body));
    }
    for (const c of refusals) {
      const v = await c.next();
      assert.ok(v.error, JSON.stringify(v));
      assert.match(errorsOf(v)[0].message, /\(--max-fields\)$/);
    }
  });

  test('5000 aliases are refused over HTTP and as a subscription', async () => {
    const body = await post({ query: aliases(5000) });
    assert.equal(body.errors[0].extensions.code, 'validation-failed', JSON.stringify(body).slice(0, 300));
    assert.match(body.errors[0].message,
      /^a selection set has 5000 aliased fields, more than the limit of \d+ \(--max-aliases\)$/);
    for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
      const got = new h.Collector(`aliases over ${protocol}`);
      open(protocol, 2).subscribe(aliases(5000, 'subscription'), {}, got);
      const v = await got.next();
      assert.ok(v.error, JSON.stringify(v).slice(0, 300));
      assert.match(errorsOf(v)[0].message, /\(--max-aliases\)$/);
    }
  });

  test('duplicate operation names are refused', async () => {
    const doc = 'query A { users { id } } query A { orders { id } }';
    const body = await post({ query: doc, operationName: 'A' });
    assert.deepEqual(body.errors[0].message, "multiple definitions for operation 'A'");
    assert.equal(body.errors[0].extensions.code, 'validation-failed');
    const got = new h.Collector('duplicate names');
    open('graphql-transport-ws', 2).subscribe(
      'subscription A { users { id } } subscription A { orders { id } }', {}, got);
    const v = await got.next();
    assert.ok(v.error, JSON.stringify(v));
  });
});
