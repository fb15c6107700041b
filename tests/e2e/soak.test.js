// Soak (issue 5, point 5; ctest label `slow`): a few minutes of subscribe/unsubscribe churn with
// both real clients under a steady write load. Sampled throughout: liveql's RSS, open websocket
// connections, subscribers and cohorts (/metrics), liveql's PostgreSQL connections
// (pg_stat_activity) and the slot lag (pg_replication_slots). They must stay bounded and flat
// (the second half's peak against the first half's), return to zero when everyone leaves, the
// slot lag must end near zero, and every long-lived subscriber must end with the result a fresh
// HTTP query gives.
//
// LIVEQL_SOAK_MS sets the churn duration (default 120000).
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const { promisify } = require('node:util');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_soak';
const CHURN_MS = Number(process.env.LIVEQL_SOAK_MS || 120000);
const SAMPLE_MS = 2000;
const WRITE_MS = 50;
const WORKERS = 6;
const POOL_SIZE = 4;
const PSQL = process.env.LIVEQL_PSQL || '/usr/lib/postgresql/15/bin/psql';
const PROTOCOLS = ['graphql-transport-ws', 'graphql-ws'];

const Q_ORDERS = 'subscription { orders(order_by: {id: asc}) { id status total } }';
const Q_ORDER = 'subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id status } }';
const Q_ITEMS = 'subscription { order_items(order_by: {id: asc}) { id quantity } }';
const SHAPES = 3;  // distinct query shapes, all for role user: at most this many cohorts

const execFileAsync = promisify(execFile);
const rand = (n) => Math.floor(Math.random() * n);
const headers = (userId) => ({ Authorization: 'Bearer ' + h.jwt({ userId: String(userId) }) });

async function sqlAsync(url, statement) {
  const { stdout } = await execFileAsync(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
    '-d', url, '-c', statement]);
  return stdout.trim();
}

// The steady write load: one psql session fed statements every WRITE_MS. Rows stay bounded
// (inserts cycle through 50 ids), so result sizes, and with them liveql's memory, need not grow.
function startWriter(url) {
  const child = spawn(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url],
    { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const statuses = ['placed', 'preparing', 'delivering', 'delivered', 'cancelled'];
  let writes = 0;
  const timer = setInterval(() => {
    const k = writes++;
    const status = statuses[rand(statuses.length)];
    let s;
    switch (k % 4) {
      case 0: s = `update orders set status = '${status}' where id = ${1 + rand(4)};`; break;
      case 1: s = `update order_items set quantity = ${1 + rand(5)} where id = ${1 + rand(6)};`; break;
      case 2: s = `insert into orders (id, user_id, status, total) values (${1000 + rand(50)}, ${1 + rand(3)},
                   '${status}', ${rand(100)}) on conflict (id) do update set status = excluded.status,
                   total = excluded.total;`; break;
      default: s = `update orders set total = total + 1 where id = ${1000 + rand(50)};`;
    }
    child.stdin.write(s + '\n');
  }, WRITE_MS);
  return {
    writes: () => writes,
    stderr: () => stderr,
    exitedEarly: () => child.exitCode !== null,
    async stop() {
      clearInterval(timer);
      child.stdin.end();
      return exited;
    },
  };
}

// One churn worker: connect (alternating clients), subscribe to 1-3 queries, wait for each first
// result, then leave in one of three ways: unsubscribe then close, close with the subscriptions
// open, or unsubscribe some and close.
async function churn(server, deadline, stats, worker) {
  let i = 0;
  while (Date.now() < deadline) {
    const protocol = PROTOCOLS[(worker + i++) % 2];
    const client = h.connectClient(protocol, server.ws, headers(1 + rand(3)));
    const subs = [];
    const n = 1 + rand(3);
    for (let j = 0; j < n; ++j) {
      const got = new h.Collector(`churn ${worker}.${i}.${j}`);
      const q = [Q_ORDERS, Q_ORDER, Q_ITEMS][rand(3)];
      const vars = q === Q_ORDER ? { id: 1 + rand(4) } : {};
      subs.push({ got, stop: client.subscribe(q, vars, got) });
    }
    for (const s of subs) {
      const v = await s.got.next(30000);
      if (!v.data) throw new Error(`churn first result: ${JSON.stringify(v)}`);
    }
    const way = rand(3);
    if (way === 0) for (const s of subs) s.stop();
    if (way === 2) subs[0].stop();
    client.close();
    stats.sessions++;
    stats.subscriptions += n;
  }
}

const maxOf = (xs) => xs.reduce((a, b) => Math.max(a, b), -Infinity);

describe('soak', () => {
  let db; let server;
  const clients = [];

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    server = await h.startLiveql(db, {
      extraArgs: ['--pool-size', String(POOL_SIZE)],
      // A small ASan quarantine: freed memory is reused soon, so RSS shows growth, not ASan.
      env: { ASAN_OPTIONS: 'detect_leaks=1:quarantine_size_mb=8' },
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    if (server) await server.stop();
  });

  test('churn and writes: memory, connections, cohorts and slot lag stay flat', async () => {
    await h.waitFor(async () => (await h.metrics(server.http)).liveql_replication_connected === 1,
      'replication to connect');

    // Long-lived subscribers on both clients, checked against HTTP at the end.
    const longLived = [];
    for (const protocol of PROTOCOLS) {
      for (const userId of [1, 2, 3]) {
        const client = h.connectClient(protocol, server.ws, headers(userId));
        clients.push(client);
        const queries = userId === 1 ? [Q_ORDERS, Q_ITEMS] : [Q_ORDERS];
        for (const q of queries) {
          const got = new h.Collector(`${protocol} user ${userId} ${q.slice(15, 26)}`);
          client.subscribe(q, {}, got);
          longLived.push({ userId, query: q, got, last: await got.next() });
        }
      }
    }
    // Keeps each long-lived subscriber's latest value (failing on errors).
    let pumping = true;
    const pumps = longLived.map(async (s) => {
      while (pumping) {
        let v;
        try { v = await s.got.next(1000); } catch { continue; }  // nothing new this second
        if (!v.data) throw new Error(`${s.got.name}: ${JSON.stringify(v)}`);
        s.last = v;
      }
    });

    const samples = [];
    const sample = async () => {
      const m = await h.metrics(server.http);
      const row = await sqlAsync(h.clusterUrl(),
        `select (select count(*) from pg_stat_activity where datname = '${DB_NAME}'
                   and backend_type = 'client backend' and application_name not like 'psql%'),
                (select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
                   from pg_replication_slots where slot_name = '${server.slot}')`);
      const [backends, lag] = row.split('|').map(Number);
      return {
        t: Date.now(), rss: h.rssKb(server.pid), ws: m.liveql_websocket_connections,
        subscribers: m.liveql_subscribers, cohorts: m.liveql_cohorts, backends, lag,
      };
    };

    const writer = startWriter(db);
    const stats = { sessions: 0, subscriptions: 0 };
    const start = Date.now();
    const deadline = start + CHURN_MS;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await sample());
        const next = samples.length * SAMPLE_MS + start;
        while (sampling && Date.now() < next) await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const workers = [];
    for (let w = 0; w < WORKERS; ++w) workers.push(churn(server, deadline, stats, w));
    await Promise.all(workers);
    sampling = false;
    await sampler;
    assert.equal(writer.exitedEarly(), false, 'the writer failed: ' + writer.stderr());
    assert.equal(await writer.stop(), 0, writer.stderr());
    const churnSamples = samples.slice();

    // Every long-lived subscriber converges on what a fresh query returns.
    const expected = await Promise.all(longLived.map(async (s) => {
      const res = await fetch(server.http + '/v1/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers(s.userId) },
        body: JSON.stringify({ query: s.query.replace(/^subscription/, 'query') }),
      });
      const body = await res.json();
      assert.ok(body.data, JSON.stringify(body));
      return body.data;
    }));
    await h.waitFor(() => longLived.every((s, i) =>
      JSON.stringify(s.last.data) === JSON.stringify(expected[i])),
    'every long-lived subscriber to hold the latest result', 30000).catch((e) => {
      const diff = longLived.map((s, i) => ({ name: s.got.name, last: s.last.data, expected: expected[i] }))
        .filter((d) => JSON.stringify(d.last) !== JSON.stringify(d.expected));
      throw new Error(e.message + ': ' + JSON.stringify(diff));
    });
    pumping = false;
    await Promise.all(pumps);

    // Everyone leaves: connections, subscribers and cohorts return to zero.
    for (const c of clients) c.close();
    clients.length = 0;
    await h.waitFor(async () => {
      const m = await h.metrics(server.http);
      return m.liveql_websocket_connections === 0 && m.liveql_subscribers === 0 &&
        m.liveql_cohorts === 0;
    }, 'connections, subscribers and cohorts to return to 0');
    // With no writes the slot catches up: lag near zero.
    await h.waitFor(async () => (await sample()).lag < 64 * 1024, 'the slot lag to end near zero', 60000);

    const summary = {
      sessions: stats.sessions, subscriptions: stats.subscriptions, writes: writer.writes(),
      samples: churnSamples.length,
    };
    console.log('soak summary', JSON.stringify(summary));
    console.log('soak samples', JSON.stringify(churnSamples.map((s) =>
      [Math.round((s.t - start) / 1000), s.rss, s.ws, s.subscribers, s.cohorts, s.backends, s.lag])));
    assert.ok(churnSamples.length >= 10, JSON.stringify(summary));
    assert.ok(stats.sessions >= 100, `only ${stats.sessions} churn sessions: ${JSON.stringify(summary)}`);

    // Bounded at every sample by what the test keeps open and by --pool-size. A worker's previous
    // connection may still be closing on the server when it opens the next: 2 per worker.
    for (const s of churnSamples) {
      assert.ok(s.ws <= 6 + 2 * WORKERS, `open websockets ${s.ws} at ${JSON.stringify(s)}`);
      assert.ok(s.subscribers <= longLived.length + 2 * 3 * WORKERS, JSON.stringify(s));
      assert.ok(s.cohorts <= SHAPES, `cohorts ${s.cohorts}: ${JSON.stringify(s)}`);
      assert.ok(s.backends <= POOL_SIZE, `pool connections ${s.backends}: ${JSON.stringify(s)}`);
    }

    // Flat: the second half's peak against the first half's (generous margins; ASan inflates
    // RSS, so this is about growth, not size).
    const half = Math.floor(churnSamples.length / 2);
    const first = churnSamples.slice(1, half);  // the very first sample precedes any churn
    const second = churnSamples.slice(half);
    const peak = (xs, k) => maxOf(xs.map((s) => s[k]));
    assert.ok(peak(second, 'rss') <= peak(first, 'rss') * 1.1 + 16 * 1024,
      `RSS grew: first half peak ${peak(first, 'rss')} kB, second half ${peak(second, 'rss')} kB`);
    assert.ok(peak(second, 'backends') <= peak(first, 'backends') + 1);
    assert.ok(peak(second, 'ws') <= peak(first, 'ws') + WORKERS);
    // The slot lag by its median: the cluster is shared with the tests running beside this one,
    // and a burst of their WAL is a lag spike every slot shows until its walsender has read past
    // it (seen: 4.4 MB for one sample). Positions that stop being acknowledged raise the median.
    const median = (xs, k) => {
      const v = xs.map((s) => s[k]).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)];
    };
    assert.ok(median(second, 'lag') <= Math.max(4 * median(first, 'lag'), 1 << 20),
      `slot lag grew: first half median ${median(first, 'lag')}, second ${median(second, 'lag')}`);

    // A clean exit: with detect_leaks=1, LeakSanitizer would fail it for leaked memory.
    server.signal('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr().slice(-4000));
  });
});
