// The HTTP/WebSocket edge under hostile or unusual input, over real sockets: oversized and
// malformed request headers, deeply nested JSON, batched requests, the JWT algorithm, a second
// connection_init on the legacy protocol, and the metrics secret.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./harness');

const METRICS_SECRET = 'e2e-metrics-secret';
const MAX_HEADER_BYTES = 12288;  // above Beast's 8 KB default: proves the flag reaches the parser
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };

async function withDeadline(promise, what, ms = 15000) {
  let t;
  const timeout = new Promise((_, reject) => { t = setTimeout(() => reject(new Error('timed out: ' + what)), ms); });
  try { return await Promise.race([promise, timeout]); } finally { clearTimeout(t); }
}

// Sends `request` (raw bytes) on a fresh connection and reads until the server closes it:
// { status, headers (lower-cased), body, closed }.
function rawHttp(port, request) {
  return withDeadline(new Promise((resolve, reject) => {
    const chunks = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(request));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) { resolve({ status: 0, headers: {}, body: '', raw: text }); return; }
      const lines = text.slice(0, split).split('\r\n');
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(lines[0].split(' ')[1]), headers, body: text.slice(split + 4), raw: text });
    });
  }), 'raw http response');
}

async function post(server, body, headers = admin) {
  const res = await fetch(server.http + '/v1/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  return res.json();
}

// A bool_exp of `steps` nested `_and`s around {id: {_eq: id}}: as lists ({_and: [..]}) or as
// plain objects ({_and: {..}}), both of which Hasura accepts.
function deepWhere(steps, lists, id) {
  let w = { id: { _eq: id } };
  for (let i = 0; i < steps; i++) w = { _and: lists ? [w] : w };
  return w;
}

const DEEP_QUERY = 'query($w: orders_bool_exp!) { orders(where: $w) { id } }';
const DEEP_SUB = 'subscription($w: orders_bool_exp!) { orders(where: $w) { id } }';

async function healthy(server) {
  const res = await fetch(server.http + '/healthz');
  assert.equal(res.status, 200);
}


describe('edge: headers, depth, batches, auth', () => {
  let server;
  before(async () => {
    const db = h.freshDatabase('liveql_e2e_edge');
    server = await h.startLiveql(db, {
      extraArgs: ['--max-header-bytes', String(MAX_HEADER_BYTES), '--metrics-secret', METRICS_SECRET,
        '--max-batch-size', '20'],
    });
  });
  after(async () => { if (server) await server.stop(); });

  test('headers over the limit get 431 with a JSON body, then the connection closes', async () => {
    const big = 'x'.repeat(16 * 1024);
    for (const header of [`X-Big: ${big}`, `Authorization: Bearer ${big}`]) {
      const r = await rawHttp(server.port,
        `POST /v1/graphql HTTP/1.1\r\nHost: a\r\n${header}\r\nContent-Length: 2\r\n\r\n{}`);
      assert.equal(r.status, 431, r.raw.slice(0, 200));
      assert.equal(r.headers.connection, 'close');
      assert.match(r.headers['content-type'], /application\/json/);
      const body = JSON.parse(r.body);
      assert.equal(body.path, '$');
      assert.equal(body.code, 'bad-request');
      assert.match(body.error, new RegExp(`larger than ${MAX_HEADER_BYTES} bytes`));
    }
    // Many headers, each small, over the limit together.
    const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'v'.repeat(40)}`).join('\r\n');
    const r = await rawHttp(server.port, `GET /healthz HTTP/1.1\r\nHost: a\r\n${many}\r\n\r\n`);
    assert.equal(r.status, 431);
    await healthy(server);
  });

  test('headers under the configured limit (above 8 KB) are served', async () => {
    const r = await rawHttp(server.port,
      `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(10 * 1024)}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 200);
    // "OK", or a warning while the replication stream is still connecting: served either way.
    assert.match(r.body, /^(OK|WARN: )/);
  });

  test('malformed requests get 400 with a JSON body', async () => {
    const cases = {
      'header line without a colon': 'GET /healthz HTTP/1.1\r\nHost: a\r\nThis is not a header\r\n\r\n',
      'NUL in a header value': 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: b\u0000c\r\n\r\n',
      'space in a header name': 'GET /healthz HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n',
      'bad request line': 'GARBAGE\r\n\r\n',
      'bad version': 'GET /healthz HTTP/9.x\r\nHost: a\r\n\r\n',
      'bad content length': 'POST /v1/graphql HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n',
    };
    for (const [what, request] of Object.entries(cases)) {
      const r = await rawHttp(server.port, Buffer.from(request, 'latin1'));
      assert.equal(r.status, 400, `${what}: ${r.raw.slice(0, 200)}`);
      assert.equal(r.headers.connection, 'close', what);
      const body = JSON.parse(r.body);
      assert.equal(body.code, 'bad-request', what);
      assert.equal(body.path, '$', what);
      assert.match(body.error, /^malformed HTTP request/, what);
    }
    await healthy(server);
  });

  test('64-deep _and in variables over HTTP, as objects and as lists', async () => {
    for (const lists of [false, true]) {
      const r = await post(server, { query: DEEP_QUERY, variables: { w: deepWhere(64, lists, 3) } });
      assert.deepEqual(r, { data: { orders: [{ id: 3 }] } }, `lists=${lists}`);
    }
  });

  test('126-deep _and lists (about 254 JSON levels) over HTTP; 200 deep gets the compiler limit', async () => {
    const r = await post(server, { query: DEEP_QUERY, variables: { w: deepWhere(126, true, 2) } });
    assert.deepEqual(r, { data: { orders: [{ id: 2 }] } });
    // Within the 512 JSON levels HTTP accepts, past the 256 a variable's value may nest.
    const deeper = await post(server, { query: DEEP_QUERY, variables: { w: deepWhere(200, true, 2) } });
    assert.equal(deeper.errors.length, 1);
    assert.equal(deeper.errors[0].extensions.code, 'validation-failed');
    assert.match(deeper.errors[0].message, /nests deeper than the limit of 256/);
  });

  test('300-deep _and lists (600 JSON levels) get a clear error and the server keeps serving', async () => {
    const r = await post(server, { query: DEEP_QUERY, variables: { w: deepWhere(300, true, 1) } });
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].extensions.code, 'invalid-json');
    assert.match(r.errors[0].message, /nested deeper than 512 levels/);
    const ok = await post(server, { query: '{ orders(where: {id: {_eq: 1}}) { id } }' });
    assert.deepEqual(ok, { data: { orders: [{ id: 1 }] } });
  });

  for (const protocol of ['graphql-ws', 'graphql-transport-ws']) {
    test(`64-deep _and in subscription variables over ${protocol} (real client)`, async () => {
      const client = h.connectClient(protocol, server.ws, admin);
      try {
        for (const lists of [false, true]) {
          const c = new h.Collector(`${protocol} lists=${lists}`);
          const stop = client.subscribe(DEEP_SUB, { w: deepWhere(64, lists, 4) }, c);
          const v = await c.next();
          assert.deepEqual(v, { data: { orders: [{ id: 4 }] } }, `lists=${lists}`);
          stop();
        }
      } finally {
        client.close();
      }
    });
  }

  test('a too-deep message: connection_error on graphql-ws (socket kept), 4400 on graphql-transport-ws', async () => {
    const deep = { query: DEEP_SUB, variables: { w: deepWhere(300, true, 1) } };
    const a = h.rawWs(server.ws, 'graphql-ws');
    await withDeadline(a.opened, 'open');
    a.send({ type: 'connection_init', payload: { headers: admin } });
    assert.equal((await a.messages.next()).type, 'connection_ack');
    a.send({ type: 'start', id: '1', payload: deep });
    const err = await a.messages.next();
    assert.equal(err.type, 'connection_error');
    assert.match(err.payload, /nested deeper than 512 levels/);
    a.send({ type: 'start', id: '2', payload: { query: DEEP_SUB, variables: { w: deepWhere(64, true, 1) } } });
    const data = await a.messages.next();
    assert.equal(data.type, 'data');
    assert.deepEqual(data.payload, { data: { orders: [{ id: 1 }] } });
    a.ws.close();

    const t = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(t.opened, 'open');
    t.send({ type: 'connection_init', payload: { headers: admin } });
    assert.equal((await t.messages.next()).type, 'connection_ack');
    t.send({ type: 'subscribe', id: '1', payload: deep });
    const c = await withDeadline(t.closed, 'close');
    assert.equal(c.code, 4400);
    assert.match(c.reason, /nested deeper than 512 levels/);
    await healthy(server);
  });

  test('a batch is answered with an array, each element its own data or errors, in order', async () => {
    const r = await post(server, [
      { query: '{ orders(where: {id: {_eq: 1}}) { id status } }' },
      { query: '{ bogus }' },
      { query: 'query($id: Int!) { orders(where: {id: {_eq: $id}}) { id } }', variables: { id: 2 } },
      { query: 'query($id: Int!) { orders(where: {id: {_eq: $id}}) { id } }', variables: { id: 'x' } },
      { query: 'subscription { orders { id } }' },
      { query: '{ __typename }' },
    ]);
    assert.ok(Array.isArray(r), JSON.stringify(r));
    assert.equal(r.length, 6);
    assert.deepEqual(r[0], { data: { orders: [{ id: 1, status: 'delivered' }] } });
    assert.equal(r[1].errors[0].extensions.code, 'validation-failed');
    assert.equal(r[1].data, undefined);
    assert.deepEqual(r[2], { data: { orders: [{ id: 2 }] } });
    assert.ok(r[3].errors, JSON.stringify(r[3]));
    assert.equal(r[4].errors[0].extensions.code, 'not-supported');
    assert.deepEqual(r[5], { data: { __typename: 'query_root' } });
  });

  test('a batch with user credentials runs each operation with that role', async () => {
    const r = await post(server, [
      { query: '{ orders(order_by: {id: asc}) { id } }' },
      { query: '{ users { id } }' },
    ], { Authorization: 'Bearer ' + h.jwt({ userId: '1' }) });
    assert.deepEqual(r[0], { data: { orders: [{ id: 1 }, { id: 2 }] } });
    assert.ok(r[1].data || r[1].errors);
  });

  test('batches that fail as a whole: over the limit, a malformed element, bad credentials', async () => {
    const op = { query: '{ __typename }' };
    const at = await post(server, Array(20).fill(op));
    assert.equal(at.length, 20);
    const over = await post(server, Array(21).fill(op));
    assert.ok(!Array.isArray(over));
    assert.equal(over.errors[0].extensions.code, 'validation-failed');
    assert.match(over.errors[0].message, /21 operations, more than the limit of 20/);

    const bad = await post(server, [op, 1]);
    assert.equal(bad.errors[0].extensions.code, 'parse-failed');
    assert.equal(bad.errors[0].extensions.path, '$[1]');

    const denied = await post(server, [op], { 'x-hasura-admin-secret': 'wrong' });
    assert.equal(denied.errors[0].extensions.code, 'access-denied');

    // Hasura answers an empty batch with an empty array.
    assert.deepEqual(await post(server, []), []);
  });

  test('the JWT algorithm is the configured one: HS384/HS512 with the same key are refused', async () => {
    const q = { query: '{ orders { id } }' };
    const good = await post(server, q, { Authorization: 'Bearer ' + h.jwt({ alg: 'HS256' }) });
    assert.ok(good.data, JSON.stringify(good));
    for (const alg of ['HS384', 'HS512']) {
      const r = await post(server, q, { Authorization: 'Bearer ' + h.jwt({ alg }) });
      assert.equal(r.errors[0].extensions.code, 'invalid-jwt', alg);
      assert.match(r.errors[0].message, /AlgorithmMismatch/, alg);
    }
    // Over websockets too: the init is refused.
    const t = h.rawWs(server.ws, 'graphql-transport-ws');
    await withDeadline(t.opened, 'open');
    t.send({ type: 'connection_init', payload: { headers: { Authorization: 'Bearer ' + h.jwt({ alg: 'HS512' }) } } });
    assert.equal((await withDeadline(t.closed, 'close')).code, 4403);
  });

  test('graphql-ws (legacy): a second connection_init closes with 4429', async () => {
    const s = h.rawWs(server.ws, 'graphql-ws');
    await withDeadline(s.opened, 'open');
    s.send({ type: 'connection_init', payload: { headers: { Authorization: 'Bearer ' + h.jwt({ userId: '3' }) } } });
    assert.equal((await s.messages.next()).type, 'connection_ack');
    s.send({ type: 'start', id: '1', payload: { query: 'subscription { orders { id } }' } });
    const first = await s.messages.next();
    assert.deepEqual(first.payload, { data: { orders: [{ id: 4 }] } });
    s.send({ type: 'connection_init', payload: { headers: admin } });
    const c = await withDeadline(s.closed, 'close');
    assert.equal(c.code, 4429);
    assert.equal(c.reason, 'Too many initialisation requests');
  });

  test('/metrics needs the bearer secret when --metrics-secret is set', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: METRICS_SECRET },
      { Authorization: `Basic ${METRICS_SECRET}` }]) {
      const res = await fetch(server.http + '/metrics', { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      const body = await res.json();
      assert.equal(body.code, 'access-denied');
      assert.equal(body.path, '$');
    }
    const res = await fetch(server.http + '/metrics', { headers: { Authorization: `Bearer ${METRICS_SECRET}` } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /liveql_http_requests_total/);
  });
});
