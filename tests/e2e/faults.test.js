// Faults survived (issue 5): each test runs a random write load and open subscriptions with both
// real clients (graphql-ws with retries, subscriptions-transport-ws with reconnect), injects one
// fault mid-load, stops the load and asserts the oracle: every connected subscriber's last pushed
// result equals a fresh HTTP query of the same operation with the same credentials.
//
// Runs on a private PostgreSQL cluster (some faults restart it), not the ctest fixture's.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');
const { SubscriptionClient } = require('subscriptions-transport-ws');
const h = require('./harness');

const PSQL = process.env.LIVEQL_PSQL || '/usr/lib/postgresql/15/bin/psql';
const PG_SH = path.join(h.SOURCE_DIR, 'tools/pg.sh');
const PG_DIR = '/tmp/liveql-faults-pg-' + process.pid;
const SEED = Number(process.env.LIVEQL_FAULTS_SEED || Date.now() % 1e9);
console.log(`faults: seed ${SEED} (LIVEQL_FAULTS_SEED to replay)`);

// A small seeded PRNG (mulberry32): the load is reproducible given the seed and the timing.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function run(file, args) {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
  });
}

// psql without blocking the event loop (the clients must keep running during the load).
async function psqlAsync(url, statement) {
  const r = await run(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', statement]);
  if (r.error) throw new Error(`psql: ${statement}: ${r.stderr || r.error.message}`);
  return r.stdout.trim();
}

// ---- the clients, as real apps configure them ----

function graphqlWs(url, headers) {
  const client = createClient({
    url, webSocketImpl: WebSocket, lazy: true, connectionParams: { headers },
    retryAttempts: 1000, shouldRetry: () => true,
    retryWait: () => new Promise((r) => setTimeout(r, 200)),  // the client's reconnect backoff
  });
  return {
    subscribe(query, variables, sink) {
      return client.subscribe({ query, variables }, sink);
    },
    close: () => client.dispose(),
  };
}

function transportWs(url, headers) {
  const client = new SubscriptionClient(url, {
    reconnect: true, reconnectionAttempts: 1000, connectionParams: { headers },
  }, WebSocket);
  return {
    subscribe(query, variables, sink) {
      const sub = client.request({ query, variables }).subscribe(sink);
      return () => sub.unsubscribe();
    },
    close: () => client.close(true),
  };
}

const OPERATIONS = [
  { name: 'orders', query: 'subscription { orders(order_by: {id: asc}) { id user_id status total items(order_by: {id: asc}) { id name quantity } } }' },
  { name: 'items', query: 'subscription { order_items(order_by: {id: asc}) { id order_id quantity order { id status } } }' },
  { name: 'aggregate', query: 'subscription { orders_aggregate { aggregate { count sum { total } } } }' },
];
const BY_USER = {
  name: 'by_user',
  query: 'subscription ($u: Int!) { orders(where: {user_id: {_eq: $u}}, order_by: {id: asc}) { id status total } }',
};

const admin = () => ({ 'x-hasura-admin-secret': h.ADMIN_SECRET });
const user = (id) => ({ Authorization: 'Bearer ' + h.jwt({ userId: String(id) }) });

// One subscription and what it last received.
class Sub {
  constructor(name, headers, op, variables) {
    Object.assign(this, { name, headers, query: op.query, variables });
    this.last = undefined;
    this.count = 0;
    this.errors = [];
    this.completed = false;
  }
  get sink() {
    return {
      next: (v) => { this.last = v; this.count += 1; },
      error: (e) => { this.errors.push(e); },
      complete: () => { this.completed = true; },
    };
  }
}

// ---- the write load ----

const STATUSES = ['placed', 'preparing', 'delivering', 'delivered', 'cancelled'];

function randomStatement(rnd) {
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const u = 1 + Math.floor(rnd() * 3);
  const money = (rnd() * 100).toFixed(2);
  const someOrder = 'select id from orders order by random() limit 1';
  switch (Math.floor(rnd() * 8)) {
    case 0:
    case 1:
      return `insert into orders (user_id, status, total) values (${u}, '${pick(STATUSES)}', ${money})`;
    case 2:
      return `update orders set status = '${pick(STATUSES)}', total = ${money} where id = (${someOrder})`;
    case 3:
      return `update orders set user_id = ${u} where id = (${someOrder})`;
    case 4:
      return `delete from orders where id = (${someOrder}) and (select count(*) from orders) > 3`;
    case 5:
      return `insert into order_items (order_id, name, quantity, price) select id, 'item', ${1 + Math.floor(rnd() * 5)}, ${money} from orders order by random() limit 1`;
    case 6:
      return `update order_items set quantity = ${1 + Math.floor(rnd() * 9)} where id = (select id from order_items order by random() limit 1)`;
    default:
      return 'delete from order_items where id = (select id from order_items order by random() limit 1)';
  }
}

// Runs random transactions (1-3 statements) back to back until stop(); failures while the
// database is away are expected and counted.
function startLoad(url, seed) {
  const rnd = prng(seed);
  const load = { committed: 0, failed: 0, stopped: false };
  load.done = (async () => {
    while (!load.stopped) {
      const n = 1 + Math.floor(rnd() * 3);
      const stmts = [];
      for (let i = 0; i < n; ++i) stmts.push(randomStatement(rnd));
      const r = await run(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c',
        'begin; ' + stmts.join('; ') + '; commit;']);
      if (r.error) load.failed += 1; else load.committed += 1;
    }
  })();
  load.stop = async () => { load.stopped = true; await load.done; };
  load.waitCommitted = (n, what) => {
    const target = load.committed + n;
    return h.waitFor(() => load.committed >= target, `${n} more committed write transactions ${what}`, 120000);
  };
  return load;
}

// ---- oracle ----

async function httpQuery(server, sub) {
  const res = await fetch(server.http + '/v1/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...sub.headers },
    body: JSON.stringify({ query: sub.query.replace(/^subscription/, 'query'), variables: sub.variables }),
  });
  return res.json();
}

async function assertOracle(getServer, subs) {
  for (const sub of subs) {
    let fresh;
    try {
      await h.waitFor(async () => {
        const server = getServer();
        try {
          fresh = await httpQuery(server, sub);
        } catch {
          return false;  // liveql restarting
        }
        if (!fresh.data) return false;  // the database restarting
        return sub.last && sub.last.data && JSON.stringify(sub.last.data) === JSON.stringify(fresh.data);
      }, `${sub.name} to equal a fresh query`, 60000);
    } catch (e) {
      assert.fail(`${sub.name}: last pushed ${JSON.stringify(sub.last)}\nfresh ${JSON.stringify(fresh)}\n${e.message}`);
    }
    assert.deepEqual(sub.errors, [], `${sub.name} received an error`);
    assert.equal(sub.completed, false, `${sub.name} was completed`);
  }
}

async function metric(server, name) {
  const res = await fetch(server.http + '/metrics', { headers: admin() });
  const text = await res.text();
  const m = text.match(new RegExp('^' + name + ' ([0-9.e+]+)$', 'm'));
  return m ? Number(m[1]) : undefined;
}

// ---- the scenario ----

describe('faults survived', { concurrency: false }, () => {
  let cluster;
  let serial = 0;

  before(async () => {
    const r = await run(PG_SH, ['start', PG_DIR]);
    if (r.error) throw new Error('tools/pg.sh start: ' + r.stderr);
    cluster = r.stdout.trim().split('\n').pop();
  });
  after(async () => {
    await run(PG_SH, ['stop', PG_DIR]);
    await run('rm', ['-rf', PG_DIR]);
  });

  // Sets up a database, liveql, clients and the load; `inject` runs mid-load with the context.
  async function scenario(name, inject, { extraSubs, expectErrors } = {}) {
    serial += 1;
    const db = h.freshDatabase(`faults_${serial}_${process.pid}`, cluster);
    const ctx = { db, cluster, server: await h.startLiveql(db), clients: [], subs: [] };
    try {
      await h.waitFor(async () => (await metric(ctx.server, 'liveql_replication_connected')) === 1,
        'replication to connect', 60000);
      const port = ctx.server.port;
      ctx.ws = () => `ws://127.0.0.1:${port}/v1/graphql`;
      const identities = [['admin', admin()], ['user1', user(1)], ['user2', user(2)], ['user3', user(3)]];
      for (const [who, headers] of identities) {
        for (const [kind, connect] of [['graphql-ws', graphqlWs], ['transport-ws', transportWs]]) {
          const client = connect(ctx.ws(), headers);
          ctx.clients.push(client);
          const ops = who === 'admin' ? [...OPERATIONS, BY_USER] : OPERATIONS;
          for (const op of ops) {
            const variables = op === BY_USER ? { u: 1 + (ctx.subs.length % 3) } : {};
            const sub = new Sub(`${name}/${who}/${kind}/${op.name}`, headers, op, variables);
            client.subscribe(op.query, variables, sub.sink);
            ctx.subs.push(sub);
          }
        }
      }
      if (extraSubs) await extraSubs(ctx);
      await h.waitFor(() => ctx.subs.every((s) => s.count > 0 || s.errors.length > 0), 'first results', 60000);

      const load = startLoad(db, SEED + serial);
      ctx.load = load;
      await load.waitCommitted(20, 'before the fault');
      await inject(ctx);
      await load.waitCommitted(20, 'after the fault');
      await load.stop();
      const checked = ctx.subs.filter((s) => !(expectErrors && expectErrors.has(s)));
      await assertOracle(() => ctx.server, checked);
      return ctx;
    } catch (e) {
      console.log(`--- liveql stderr (${name}) ---\n` + ctx.server.stderr().slice(-20000));
      throw e;
    } finally {
      if (ctx.load) await ctx.load.stop();
      for (const c of ctx.clients) c.close();
      await ctx.server.stop();
    }
  }

  const walsenderPid = (ctx) => h.sql(ctx.cluster,
    `select active_pid from pg_replication_slots where slot_name = '${ctx.server.slot}' and active`);

  test('the replication connection is killed', async () => {
    await scenario('walsender', async (ctx) => {
      const before = walsenderPid(ctx);
      assert.ok(before, 'no active walsender for the slot');
      const backendType = h.sql(ctx.cluster, `select backend_type from pg_stat_activity where pid = ${before}`);
      assert.equal(backendType, 'walsender');
      h.sql(ctx.cluster, `select pg_terminate_backend(${before}, 10000)`);
      await h.waitFor(() => { const p = walsenderPid(ctx); return p && p !== before; },
        'liveql to reconnect its replication stream', 60000);
    });
  });

  for (const mode of ['fast', 'immediate']) {
    test(`PostgreSQL restarts (${mode} shutdown)`, async () => {
      await scenario(`restart-${mode}`, async (ctx) => {
        const before = walsenderPid(ctx);
        const r = await run(PG_SH, ['restart', PG_DIR, mode]);
        if (r.error) throw new Error('tools/pg.sh restart: ' + r.stderr);
        await h.waitFor(() => { const p = walsenderPid(ctx); return p && p !== before; },
          'liveql to reconnect its replication stream', 60000);
      });
    });
  }

  test('the slot is dropped while liveql runs', async () => {
    await scenario('slot-drop', async (ctx) => {
      const gapsBefore = await metric(ctx.server, 'liveql_replication_gaps_total');
      // The stream reconnects quickly: terminate and drop until the drop wins the race.
      await h.waitFor(async () => {
        try {
          await psqlAsync(ctx.cluster,
            `select pg_terminate_backend(active_pid, 10000) from pg_replication_slots where slot_name = '${ctx.server.slot}' and active_pid is not null;` +
            `select pg_drop_replication_slot('${ctx.server.slot}')`);
          return true;
        } catch {
          return false;
        }
      }, 'the slot to be dropped', 60000);
      await h.waitFor(async () => (await metric(ctx.server, 'liveql_replication_gaps_total')) === gapsBefore + 1,
        'the gap to be detected', 60000);
      await h.waitFor(() => walsenderPid(ctx), 'the slot to be recreated and streamed', 60000);
      ctx.gapsAfterDrop = gapsBefore + 1;
    });
  });

  test('liveql is killed with SIGKILL and restarted on the same state dir and slot', async () => {
    let reconnects = 0;
    await scenario('sigkill', async (ctx) => {
      const old = ctx.server;
      const exit = await old.kill('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL');
      ctx.server = await h.startLiveql(ctx.db, { stateDir: old.stateDir, slot: old.slot, port: old.port });
      reconnects += 1;
      await h.waitFor(async () => (await metric(ctx.server, 'liveql_replication_connected')) === 1,
        'replication to connect after the restart', 60000);
      // Acknowledged positions were saved first: the restarted liveql finds no gap.
      assert.equal(await metric(ctx.server, 'liveql_replication_gaps_total'), 0);
      // The clients reconnect and resubscribe by themselves.
      await h.waitFor(async () => (await metric(ctx.server, 'liveql_subscribers')) >= ctx.subs.length,
        'the clients to resubscribe', 60000);
    });
    assert.equal(reconnects, 1);
  });

  test('the query pool loses its connections mid-refetch', async () => {
    await scenario('pool', async (ctx) => {
      const dbName = ctx.db.split('/').pop();
      const poolBackends = `select count(*) from pg_stat_activity where datname = '${dbName}' and application_name = 'liveql' and backend_type = 'client backend'`;
      assert.ok(Number(h.sql(ctx.cluster, poolBackends)) > 0, 'no pool connection named liveql');
      assert.equal(h.sql(ctx.cluster,
        `select application_name from pg_stat_activity where pid = ${walsenderPid(ctx)}`), 'liveql-replication');
      // Several rounds while the load keeps refetches in flight.
      for (let round = 0; round < 5; ++round) {
        await psqlAsync(ctx.cluster, `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${dbName}' and application_name = 'liveql' and backend_type = 'client backend'`);
        await ctx.load.waitCommitted(3, `in pool kill round ${round}`);
      }
    });
  });

  test('a refetch statement fails for one subscriber only', async () => {
    const bad = new Set();
    await scenario('bad-session', async (ctx) => {
      // Nothing to inject mid-load: the bad subscribers were in the cohort from the start.
      for (const sub of bad) {
        assert.equal(sub.errors.length, 1, `${sub.name}: ${JSON.stringify(sub.errors)}`);
        const errors = Array.isArray(sub.errors[0]) ? sub.errors[0] : (sub.errors[0].errors || [sub.errors[0]]);
        assert.equal(errors[0].extensions.code, 'data-exception', JSON.stringify(sub.errors[0]));
        assert.match(errors[0].message, /invalid input syntax for type integer/);
      }
    }, {
      expectErrors: bad,
      async extraSubs(ctx) {
        // x-hasura-user-id 'abc' against the integer user_id of the user role's filter.
        const headers = { Authorization: 'Bearer ' + h.jwt({ userId: 'abc' }) };
        for (const [kind, connect] of [['graphql-ws', graphqlWs], ['transport-ws', transportWs]]) {
          const client = connect(ctx.ws(), headers);
          ctx.clients.push(client);
          const sub = new Sub(`bad-session/abc/${kind}/orders`, headers, OPERATIONS[0], {});
          client.subscribe(OPERATIONS[0].query, {}, sub.sink);
          ctx.subs.push(sub);
          bad.add(sub);
        }
        await h.waitFor(() => [...bad].every((s) => s.errors.length > 0), 'the bad subscribers\' errors', 30000);
      },
    });
  });
});
