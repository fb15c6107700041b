// The session's writer (server/src/websocket_session.cpp): results of several subscriptions
// written together in one call, a large result (written through Beast) among small ones, the
// client's websocket pings answered while results flow, and the idle timeout liveql runs itself
// (a websocket ping after half of it without data from the peer, the connection dropped after
// all of it). Raw `ws` sockets, so that the test sees the control frames.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_writer';
const FIRST_ID = 7000;
const SMALL = 4;     // one subscription per row FIRST_ID .. FIRST_ID + SMALL - 1
const BIG_ROWS = 2500;  // a subscription whose result is > 64 KB
const IDLE_TIMEOUT_S = 3;
const admin = { headers: { 'x-hasura-admin-secret': h.ADMIN_SECRET } };

async function withDeadline(promise, what, ms = 15000) {
  let t;
  const timeout = new Promise((_, reject) => { t = setTimeout(() => reject(new Error('timed out: ' + what)), ms); });
  try { return await Promise.race([promise, timeout]); } finally { clearTimeout(t); }
}

// A graphql-transport-ws socket that does not answer keep-alives; records results by id, pings
// and pongs (websocket control frames), and its close.
async function openSocket(url, options = {}) {
  const ws = new WebSocket(url, ['graphql-transport-ws'], options);
  const s = {
    ws, results: new Map(), pings: 0, pongs: 0, messages: 0, errors: [],
    closed: new Promise((resolve) => ws.on('close', (code) => resolve(code))),
  };
  ws.on('ping', () => { ++s.pings; });
  ws.on('pong', () => { ++s.pongs; });
  ws.on('message', (m) => {
    ++s.messages;
    const msg = JSON.parse(m.toString());
    if (msg.type === 'next') {
      const list = s.results.get(msg.id) || [];
      list.push(msg.payload.data);
      s.results.set(msg.id, list);
    } else if (msg.type === 'error') {
      s.errors.push(msg);
    }
  });
  await withDeadline(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }), 'open');
  const acked = new Promise((resolve) => ws.on('message', (m) => {
    if (JSON.parse(m.toString()).type === 'connection_ack') resolve();
  }));
  ws.send(JSON.stringify({ type: 'connection_init', payload: admin }));
  await withDeadline(acked, 'connection_ack');
  return s;
}

function subscribe(s, id, query, variables) {
  s.ws.send(JSON.stringify({ type: 'subscribe', id, payload: { query, variables } }));
}

const ONE = 'subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id total } }';
const BIG = `subscription { orders(where: {id: {_gte: ${FIRST_ID + SMALL}}}, order_by: {id: asc}) { id total status } }`;

// Waits until every subscription of `s` has shown `total` last, checking each one's values only
// go up and belong to its rows.
async function reach(s, total) {
  await h.waitFor(() => {
    for (let k = 0; k < SMALL; ++k) {
      const list = s.results.get('s' + k) || [];
      const last = list[list.length - 1];
      if (!last || Number(last.orders[0].total) !== total) return false;
    }
    const big = s.results.get('big') || [];
    const last = big[big.length - 1];
    return last && last.orders.length === BIG_ROWS && last.orders.every((o) => Number(o.total) === total);
  }, `every subscription at total ${total}`, 30000);
  for (let k = 0; k < SMALL; ++k) {
    const totals = s.results.get('s' + k).map((d) => {
      assert.equal(d.orders.length, 1);
      assert.equal(d.orders[0].id, FIRST_ID + k);
      return Number(d.orders[0].total);
    });
    for (let i = 1; i < totals.length; ++i) assert.ok(totals[i] >= totals[i - 1], `s${k}: ${totals}`);
  }
}

describe('the websocket writer', () => {
  let db; let server;
  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `insert into orders (id, user_id, status, total)
               select g, 1, 'placed', 0 from generate_series(${FIRST_ID}, ${FIRST_ID + SMALL + BIG_ROWS - 1}) g`);
    server = await h.startLiveql(db, {
      extraArgs: ['--ws-keepalive-seconds', '1'],
      env: { LIVEQL_WS_IDLE_TIMEOUT_SECONDS: String(IDLE_TIMEOUT_S) },
    });
  });
  after(async () => { if (server) await server.stop(); });

  test('results of one commit arrive whole, before and after the client pings', async () => {
    const s = await openSocket(server.ws);
    for (let k = 0; k < SMALL; ++k) subscribe(s, 's' + k, ONE, { id: FIRST_ID + k });
    subscribe(s, 'big', BIG, {});
    await reach(s, 0);
    const set = (total) => h.sql(db, `update orders set total = ${total} where id >= ${FIRST_ID}`);
    // Direct writes: every small result of a commit is queued at once.
    for (let round = 1; round <= 3; ++round) {
      set(round);
      await reach(s, round);
    }
    // The client pings: liveql answers each, and the results still arrive whole (Beast writes).
    for (let round = 4; round <= 7; ++round) {
      s.ws.ping();
      set(round);
      s.ws.ping();
      await reach(s, round);
    }
    await h.waitFor(() => s.pongs === 8, 'a pong for each of the 8 pings');
    assert.deepEqual(s.errors, []);
    s.ws.close();
    assert.notEqual(await withDeadline(s.closed, 'close'), 1006);  // a clean closing handshake
  });

  test('idle: a ping after half the idle timeout, dropped after all of it unless answered', async () => {
    const silent = await openSocket(server.ws, { autoPong: false });
    const answering = await openSocket(server.ws);  // `ws` answers pings by default
    // Neither answers the keep-alive messages: only websocket pongs count as traffic.
    const code = await withDeadline(silent.closed, 'the silent client dropped', IDLE_TIMEOUT_S * 1000 + 10000);
    assert.equal(code, 1006);  // dropped without a close frame
    assert.ok(silent.pings >= 1, 'the silent client got a websocket ping first');
    assert.ok(silent.messages >= 1, 'and keep-alive messages');
    assert.ok(answering.pings >= 1, 'the answering client got a ping too');
    assert.equal(answering.ws.readyState, WebSocket.OPEN);
    // It still gets its keep-alives, past the idle timeout.
    const seen = answering.messages;
    await h.waitFor(() => answering.messages > seen + 1, 'more keep-alives to the answering client');
    assert.equal(answering.ws.readyState, WebSocket.OPEN);
    answering.ws.close();
    await withDeadline(answering.closed, 'close');
  });
});
