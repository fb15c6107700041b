// Operations (issue 5, point 4): `liveql slot status` / `liveql slot drop` on the real binary,
// SIGTERM (websockets closed with 1001, position acknowledged, exit 0), two instances on one
// database with a slot each, the liveql_websocket_connections gauge, and switching a table
// between event and poll mode at run time (issue 4, point 5).
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

// Creating a logical slot waits for every transaction of the cluster that holds an xid to end;
// other tests share the cluster (ctest -j2), so give it as long as faults.test.js does.
const kSlotWaitMs = 60000;

const DB_NAME = 'liveql_e2e_lifecycle';
const ORDERS = 'subscription { orders(order_by: {id: asc}) { id status } }';
const PROTOCOLS = ['graphql-transport-ws', 'graphql-ws'];
const statusOf = (v, id) => {
  const row = v.data && v.data.orders.find((o) => o.id === id);
  return row ? row.status : undefined;
};
const userHeaders = (id) => ({ Authorization: 'Bearer ' + h.jwt({ userId: String(id) }) });

function slotCommand(sub, db, slot, stateDir, extra = []) {
  return h.runLiveql(['slot', sub, '--database-url', db, '--slot-name', slot,
    '--state-dir', stateDir, ...extra]);
}

function slotStatus(db, slot, stateDir) {
  const r = slotCommand('status', db, slot, stateDir, ['--json']);
  assert.ok(r.stdout.trim(), `slot status printed nothing (exit ${r.status}): ${r.stderr}`);
  return { status: r.status, json: JSON.parse(r.stdout), stderr: r.stderr };
}

function slotRow(db, slot) {
  const out = h.sql(db, `select active, confirmed_flush_lsn from pg_replication_slots
                         where slot_name = '${slot}'`);
  if (!out) return null;
  const [active, confirmed] = out.split('|');
  return { active: active === 't', confirmed };
}

// Waits for the next pushed value for which `pred` holds (earlier ones are skipped).
async function until(collector, pred, what) {
  for (;;) {
    const v = await collector.next();
    if (v.error || v.complete) throw new Error(`${collector.name}: ${what}: got ${JSON.stringify(v)}`);
    if (pred(v)) return v;
  }
}

describe('operations', () => {
  let db;
  const tmpDirs = [];
  const servers = [];
  const clients = [];
  const stateDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-e2e-ops-'));
    tmpDirs.push(d);
    return d;
  };
  const start = async (opts) => {
    const s = await h.startLiveql(db, opts);
    servers.push(s);
    return s;
  };
  const connect = (protocol, server, userId, onClose) => {
    const c = h.connectClient(protocol, server.ws, userHeaders(userId), { onClose });
    clients.push(c);
    return c;
  };

  before(() => { db = h.freshDatabase(DB_NAME); });
  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
    h.sql(h.clusterUrl(), `select pg_drop_replication_slot(slot_name) from pg_replication_slots
                           where database = '${DB_NAME}' and not active`);
  });

  test('slot status and drop: missing, created by liveql, refused while active, dropped', async () => {
    const slot = h.uniqueSlot();
    const dir = stateDir();

    // Before any liveql: no slot, an empty state dir.
    let st = slotStatus(db, slot, dir);
    assert.equal(st.status, 1);
    assert.equal(st.json.exists, false);
    assert.equal(st.json.slot, null);
    assert.equal(st.json.state.record, null);
    const text = slotCommand('status', db, slot, dir);
    assert.equal(text.status, 1);
    assert.match(text.stdout, new RegExp(`slot ${slot}: does not exist`));
    assert.match(text.stdout, /no record for slot/);

    // liveql creates the slot and streams from it.
    const server = await start({ slot, stateDir: dir });
    // While PostgreSQL still builds the slot's snapshot (it waits for transactions running
    // elsewhere in the cluster), the slot is active with no confirmed position, so no lag yet.
    await h.waitFor(() => {
      const s = slotStatus(db, slot, dir);
      return s.status === 0 && s.json.slot.active && s.json.slot.lag_bytes !== null;
    }, 'the slot to exist, be active and have a confirmed position');
    st = slotStatus(db, slot, dir);
    assert.equal(st.json.slot.plugin, 'wal2json');
    assert.equal(st.json.slot.database, DB_NAME);
    assert.equal(typeof st.json.slot.active_pid, 'number');
    assert.equal(typeof st.json.slot.lag_bytes, 'number');
    // The state dir is read read-only, so status works while liveql holds its lock.
    assert.equal(st.json.state.error, null, JSON.stringify(st.json));
    assert.equal(st.json.state.record.slot_name, slot, JSON.stringify(st.json));

    // Dropping an active slot is refused and changes nothing.
    const refused = slotCommand('drop', db, slot, dir);
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /is active \(walsender pid \d+\).*Stop that liveql/);
    assert.equal(slotRow(db, slot).active, true);

    server.signal('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    await h.waitFor(() => !slotRow(db, slot).active, 'the walsender to exit');

    // After the run: the slot and the state dir's record of it.
    st = slotStatus(db, slot, dir);
    assert.equal(st.status, 0, st.stderr);
    assert.equal(st.json.slot.active, false);
    assert.equal(st.json.slot.active_pid, null);
    assert.equal(st.json.state.error, null);
    const record = st.json.state.record;
    assert.ok(record, JSON.stringify(st.json));
    assert.equal(record.slot_name, slot);
    assert.equal(record.database, DB_NAME);
    assert.ok(record.timeline >= 1);
    assert.match(record.system_identifier, /^\d+$/);
    // The record is saved before a position is acknowledged: never behind the slot.
    assert.ok(h.lsn(record.confirmed_lsn) >= h.lsn(st.json.slot.confirmed_flush_lsn),
      JSON.stringify(st.json));
    const shown = slotCommand('status', db, slot, dir);
    assert.equal(shown.status, 0);
    assert.match(shown.stdout, /active: +no/);
    assert.match(shown.stdout, /confirmed_flush_lsn: +[0-9A-F]+\/[0-9A-F]+/);
    assert.match(shown.stdout, /matched up to lsn: +[0-9A-F]+\/[0-9A-F]+/);

    // Drop: the slot and the record go.
    const dropped = slotCommand('drop', db, slot, dir);
    assert.equal(dropped.status, 0, dropped.stderr);
    assert.match(dropped.stdout, new RegExp(`dropped slot ${slot}`));
    assert.match(dropped.stdout, /cleared the record/);
    assert.equal(slotRow(db, slot), null);
    st = slotStatus(db, slot, dir);
    assert.equal(st.status, 1);
    assert.equal(st.json.state.record, null);
    // Dropping again: nothing to do, not an error.
    const again = slotCommand('drop', db, slot, dir);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /nothing to drop/);

    // The next start on that state dir finds no position: a gap, every live query refetched.
    const restarted = await start({ slot, stateDir: dir });
    await h.waitFor(async () => (await h.metrics(restarted.http)).liveql_replication_gaps_total >= 1,
      'a replication gap after the drop');
    await restarted.stop();
  });

  test('slot commands: usage errors exit 2, a foreign slot is not dropped', async () => {
    const usage = h.runLiveql(['slot', 'status']);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /database/);
    const unknown = h.runLiveql(['slot', 'drop', '--database-url', db, '--bogus']);
    assert.equal(unknown.status, 2);

    const foreign = h.uniqueSlot();
    h.sql(db, `select pg_create_logical_replication_slot('${foreign}', 'test_decoding')`);
    const r = slotCommand('drop', db, foreign, stateDir());
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not one liveql created/);
    assert.notEqual(slotRow(db, foreign), null);
    h.sql(db, `select pg_drop_replication_slot('${foreign}')`);
  });

  test('SIGTERM: both clients see 1001, liveql exits 0, the slot holds the last change', async () => {
    const dir = stateDir();
    const server = await start({ stateDir: dir });
    await h.waitForReplication(server, kSlotWaitMs);
    const closes = {};
    const collectors = {};
    for (const protocol of PROTOCOLS) {
      closes[protocol] = [];
      collectors[protocol] = new h.Collector(protocol);
      const c = connect(protocol, server, 1, (code, reason) => closes[protocol].push({ code, reason }));
      c.subscribe(ORDERS, {}, collectors[protocol]);
      assert.equal(statusOf(await collectors[protocol].next(), 2), 'placed');
    }

    // The LSN of the update itself: the commit (which the slot must end at or after) follows it.
    const updateLsn = h.sql(db, `begin; update orders set status = 'delivering' where id = 2;
                                 select pg_current_wal_insert_lsn(); commit;`);
    for (const protocol of PROTOCOLS) {
      await until(collectors[protocol], (v) => statusOf(v, 2) === 'delivering', 'the update');
    }

    server.signal('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
    await h.waitFor(() => PROTOCOLS.every((p) => closes[p].length > 0), 'both clients to see the close');
    for (const protocol of PROTOCOLS) {
      assert.equal(closes[protocol][0].code, 1001, `${protocol}: ${JSON.stringify(closes[protocol])}`);
      assert.equal(closes[protocol][0].reason, 'server shutting down');
    }
    assert.match(server.stderr(), /shutdown: clean/);
    // The stream's last standby status update went out before its connection closed.
    assert.match(server.stderr(), /replication: stopped; acknowledged [0-9A-F]+\/[0-9A-F]+ to the slot/);

    await h.waitFor(() => !slotRow(db, server.slot).active, 'the walsender to exit');
    const row = slotRow(db, server.slot);
    assert.ok(h.lsn(row.confirmed) > h.lsn(updateLsn),
      `confirmed_flush_lsn ${row.confirmed} is not past the update at ${updateLsn}`);
    const st = slotStatus(db, server.slot, dir);
    assert.equal(st.status, 0);
    assert.ok(h.lsn(st.json.state.record.confirmed_lsn) >= h.lsn(row.confirmed), JSON.stringify(st.json));
    assert.equal(slotCommand('drop', db, server.slot, dir).status, 0);
  });

  test('two instances with their own slot and state dir serve one database', async () => {
    const a = await start();
    const b = await start();
    const got = {};
    for (const [server, protocol] of [[a, 'graphql-transport-ws'], [b, 'graphql-ws']]) {
      await h.waitForReplication(server, kSlotWaitMs);
      got[protocol] = new h.Collector(protocol);
      connect(protocol, server, 1).subscribe(ORDERS, {}, got[protocol]);
      assert.ok(statusOf(await got[protocol].next(), 1));
    }
    const before = [(await h.metrics(a.http)).liveql_transactions_total,
      (await h.metrics(b.http)).liveql_transactions_total];
    h.sql(db, "update orders set status = 'cancelled' where id = 1");
    for (const protocol of PROTOCOLS) {
      await until(got[protocol], (v) => statusOf(v, 1) === 'cancelled', 'the update');
    }
    // Each decoded the transaction from its own slot.
    await h.waitFor(async () => (await h.metrics(a.http)).liveql_transactions_total > before[0] &&
      (await h.metrics(b.http)).liveql_transactions_total > before[1], 'both streams to decode it');
    const slots = h.sql(db, `select slot_name, active, active_pid from pg_replication_slots
                             where slot_name in ('${a.slot}', '${b.slot}') order by slot_name`)
      .split('\n').map((l) => l.split('|'));
    assert.equal(slots.length, 2);
    assert.ok(slots.every(([, active]) => active === 't'), JSON.stringify(slots));
    assert.notEqual(slots[0][2], slots[1][2]);

    a.signal('SIGTERM');
    b.signal('SIGTERM');
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.deepEqual(await b.exited, { code: 0, signal: null });
  });

  test('liveql_websocket_connections counts open websockets', async () => {
    const server = await start();
    const gauge = async () => (await h.metrics(server.http)).liveql_websocket_connections;
    assert.equal(await gauge(), 0);
    const opened = [];
    for (const protocol of PROTOCOLS) {
      for (let i = 0; i < 2; ++i) {
        const c = h.connectClient(protocol, server.ws, userHeaders(1));
        opened.push(c);
        const got = new h.Collector(`${protocol} ${i}`);
        c.subscribe(ORDERS, {}, got);
        await got.next();
      }
    }
    await h.waitFor(async () => (await gauge()) === 4, '4 open connections');
    opened[0].close();
    await h.waitFor(async () => (await gauge()) === 3, '3 open connections');
    for (const c of opened.slice(1)) c.close();
    await h.waitFor(async () => {
      const m = await h.metrics(server.http);
      return m.liveql_websocket_connections === 0 && m.liveql_subscribers === 0;
    }, 'no connections and no subscribers');
  });

  test('an operator switches a table between event and poll mode while subscribers stay', async () => {
    const dir = stateDir();
    let server = await start({ stateDir: dir });
    const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET, 'content-type': 'application/json' };
    const setMode = async (table, mode, headers = admin) => {
      const res = await fetch(server.http + '/v1/live/tables', {
        method: 'POST', headers, body: JSON.stringify({ table, mode }),
      });
      return { status: res.status, body: await res.json() };
    };
    const tableRow = (body) => body.find((t) => t.table === 'public.orders');
    const cohortMode = async () => {
      const res = await h.getJson(server.http + '/v1/live/cohorts', admin);
      const c = res.body.find((x) => x.root_field === 'orders' && x.role === 'admin');
      return c && c.mode;
    };
    await h.waitForReplication(server, kSlotWaitMs);
    const got = new h.Collector('admin orders');
    const c = h.connectClient('graphql-transport-ws', server.ws,
      { 'x-hasura-admin-secret': h.ADMIN_SECRET });
    clients.push(c);
    c.subscribe(ORDERS, {}, got);
    assert.ok(statusOf(await got.next(), 1));

    const listed = await h.getJson(server.http + '/v1/live/tables', admin);
    assert.equal(listed.status, 200);
    assert.deepEqual(tableRow(listed.body), { table: 'public.orders', metadata_mode: 'event',
      override: null, mode: 'event', write_fallback: null, streamed: true,
      replica_identity_full: false });
    await h.waitFor(async () => (await cohortMode()) === 'event', 'the cohort in event mode');

    // To poll: the cohort switches at once and changes still arrive (by the poller).
    let r = await setMode('public.orders', 'poll');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(tableRow(r.body).mode, 'poll');
    assert.equal(tableRow(r.body).override, 'poll');
    assert.equal(tableRow(r.body).streamed, false);
    assert.equal(await cohortMode(), 'poll');
    h.sql(db, "update orders set status = 'preparing' where id = 1");
    await until(got, (v) => statusOf(v, 1) === 'preparing', 'the update while polled');

    // Back to the metadata's mode (event), then a change arrives by replication.
    r = await setMode('public.orders', 'default');
    assert.equal(r.status, 200);
    assert.equal(tableRow(r.body).override, null);
    assert.equal(await cohortMode(), 'event');
    h.sql(db, "update orders set status = 'delivering' where id = 1");
    await until(got, (v) => statusOf(v, 1) === 'delivering', 'the update in event mode');

    // Bad input: Hasura-shaped errors, nothing changes.
    r = await setMode('public.nope', 'poll');
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'not-found', JSON.stringify(r.body));
    r = await setMode('public.orders', 'sometimes');
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'bad-request', JSON.stringify(r.body));
    r = await setMode('public.orders', 'poll', { Authorization: 'Bearer ' + h.jwt({ userId: '1' }) });
    assert.equal(r.status, 400);
    assert.equal(await cohortMode(), 'event');

    // The override is kept in the state dir: a restart on it starts the table in poll mode.
    r = await setMode('public.orders', 'poll');
    assert.equal(r.status, 200);
    c.close();
    await server.stop();
    server = await start({ stateDir: dir, slot: server.slot });
    const again = await h.getJson(server.http + '/v1/live/tables', admin);
    assert.equal(tableRow(again.body).override, 'poll');
    assert.equal(tableRow(again.body).mode, 'poll');
  });
});
