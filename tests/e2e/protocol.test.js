// Protocol violations and auth failures: close codes and errors, with raw sockets and the real
// clients.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');
const { SubscriptionClient } = require('subscriptions-transport-ws');
const h = require('./harness');


async function withDeadline(promise, what, ms = 15000) {
  let t;
  const timeout = new Promise((_, reject) => { t = setTimeout(() => reject(new Error('timed out: ' + what)), ms); });
  try { return await Promise.race([promise, timeout]); } finally { clearTimeout(t); }
}

const SUB = { query: 'subscription { orders { id } }' };
const admin = { headers: { 'x-hasura-admin-secret': h.ADMIN_SECRET } };

describe('websocket protocol violations and auth', () => {
  let server;
  before(async () => {
    const db = h.freshDatabase('liveql_e2e_protocol');
    server = await h.startLiveql(db, { extraArgs: ['--ws-init-timeout-ms', '1000'] });
  });
  after(async () => { if (server) await server.stop(); });

  test('subprotocol is echoed', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    assert.equal(s.ws.protocol, 'graphql-transport-ws');
    s.ws.close();
    const a = h.rawWs(server.ws, 'graphql-ws');
    await withDeadline(a.opened, 'open');
    assert.equal(a.ws.protocol, 'graphql-ws');
    a.ws.close();
  });

  test('4400 on a message that is not JSON', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send('{not json');
    assert.equal((await withDeadline(s.closed, 'close')).code, 4400);
  });

  test('4401 on subscribe before connection_ack', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'subscribe', id: '1', payload: SUB });
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 4401);
    assert.equal(c.reason, 'Unauthorized');
  });

  test('4408 when connection_init never comes', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 4408);
    assert.equal(c.reason, 'Connection initialisation timeout');
  });

  test('4409 on a duplicate subscription id', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'connection_init', payload: admin });
    assert.equal((await s.messages.next()).type, 'connection_ack');
    s.send({ type: 'subscribe', id: 'x', payload: SUB });
    assert.equal((await s.messages.next()).type, 'next');
    s.send({ type: 'subscribe', id: 'x', payload: SUB });
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 4409);
    assert.equal(c.reason, 'Subscriber for x already exists');
  });

  test('4429 on a second connection_init', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'connection_init', payload: admin });
    assert.equal((await s.messages.next()).type, 'connection_ack');
    s.send({ type: 'connection_init', payload: admin });
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 4429);
    assert.equal(c.reason, 'Too many initialisation requests');
  });

  test('4403 for a bad JWT (graphql-ws client)', async () => {
    const closed = new Promise((resolve) => {
      const client = createClient({
        url: server.ws, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true,
        connectionParams: { headers: { Authorization: 'Bearer ' + h.jwt({ key: 'another-secret-that-is-long-enough-000' }) } },
        on: { closed: (e) => resolve(e) },
      });
      client.subscribe(SUB, { next() {}, error() {}, complete() {} });
    });
    const e = await withDeadline(closed, 'close');
    assert.equal(e.code, 4403);
    assert.match(e.reason, /JWSInvalidSignature/);
  });

  test('4403 for a wrong admin secret and an expired JWT', async () => {
    for (const headers of [{ 'x-hasura-admin-secret': 'nope' },
      { Authorization: 'Bearer ' + h.jwt({ expIn: -60 }) }]) {
      const s = h.rawWs(server.ws, 'graphql-transport-ws');
      await withDeadline(s.opened, 'open');
      s.send({ type: 'connection_init', payload: { headers } });
      assert.equal((await withDeadline(s.closed, 'close')).code, 4403);
    }
  });

  test('role not in allowed roles is refused', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'connection_init', payload: { headers: { Authorization: 'Bearer ' + h.jwt(), 'x-hasura-role': 'admin' } } });
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 4403);
    assert.match(c.reason, /not in allowed roles/);
  });

  test('apollo client: connection_error for bad credentials', async () => {
    const errors = new h.Collector('apollo errors');
    const client = new SubscriptionClient(server.ws, {
      reconnect: false,
      connectionParams: { headers: { 'x-hasura-admin-secret': 'nope' } },
      connectionCallback: (err) => { if (err) errors.push(err); },
    }, WebSocket);
    const e = await errors.next();
    assert.match(JSON.stringify(e), /invalid x-hasura-admin-secret\/x-hasura-access-key/);
    client.close(true);
  });

  test('apollo: start before init gets an error, bad JSON a connection_error', async () => {
    const s = h.rawWs(server.ws, 'graphql-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'start', id: '1', payload: SUB });
    const err = await s.messages.next();
    assert.equal(err.type, 'error');
    assert.equal(err.payload.message, 'start received before the connection is initialised');
    assert.equal((await s.messages.next()).type, 'complete');
    s.send('{nope');
    assert.equal((await s.messages.next()).type, 'connection_error');
    s.ws.close();
  });

  test('the connection closes when the JWT expires, and its subscriptions end', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'connection_init', payload: { headers: { Authorization: 'Bearer ' + h.jwt({ expIn: 2 }) } } });
    assert.equal((await s.messages.next()).type, 'connection_ack');
    s.send({ type: 'subscribe', id: '1', payload: SUB });
    assert.equal((await s.messages.next()).type, 'next');
    const c = await withDeadline(s.closed, 'close', 10000);
    assert.equal(c.code, 4403);
  });

  test('an oversized frame closes the connection with 1009', async () => {
    const s = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'connection_init', payload: { junk: 'x'.repeat(2 << 20) } });
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 1009);
  });
});
