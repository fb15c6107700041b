// Enum tables (metadata is_enum) over real sockets: a column referencing an enum table takes
// enum values in inserts, updates and filters (literals and variables declared with the enum
// type), answers with the text, refuses values the table does not hold, and a subscription
// filtering on it (in event mode) is pushed the rows a mutation makes match, over both websocket
// protocols.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_enums';
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };
const URGENT = `subscription { tickets(where: {priority: {_eq: urgent}}, order_by: {id: asc}) {
  title priority } }`;

describe('enum tables', () => {
  let db;
  let server;
  let dir;
  const q = (query, variables) => h.graphql(server, query, variables, admin);

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `create table priorities (value text primary key, comment text);
      insert into priorities values ('low', 'can wait'), ('high', null), ('urgent', 'now');
      create table tickets (id serial primary key, title text not null,
                            priority text not null references priorities);`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-e2e-enums-'));
    const metadata = path.join(dir, 'metadata.json');
    fs.writeFileSync(metadata, JSON.stringify([
      { table: { schema: 'public', name: 'priorities' }, is_enum: true },
      { table: { schema: 'public', name: 'tickets' } },
    ]));
    server = await h.startLiveql(db, { metadata });
    await h.waitForReplication(server);
  });
  after(async () => {
    if (server) await server.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the enum type holds one value per row, the comment as its description', async () => {
    const res = await q(`{ __type(name: "priorities_enum") { kind enumValues { name description } } }`);
    assert.deepEqual(res, { data: { __type: { kind: 'ENUM', enumValues: [
      { name: 'high', description: null },
      { name: 'low', description: 'can wait' },
      { name: 'urgent', description: 'now' },
    ] } } });
  });

  test('a value the table does not hold, or a string, is refused', async () => {
    const bad = await q('mutation { insert_tickets(objects: [{title: "x", priority: someday}]) { affected_rows } }');
    assert.equal(bad.errors[0].extensions.code, 'validation-failed', JSON.stringify(bad));
    assert.equal(bad.errors[0].message,
      'expected one of the values high, low, or urgent for type "priorities_enum", but found "someday"');
    assert.equal(bad.errors[0].extensions.path, '$.selectionSet.insert_tickets.args.objects[0].priority');
    const str = await q('{ tickets(where: {priority: {_eq: "low"}}) { id } }');
    assert.equal(str.errors[0].message, 'expected an enum value for type "priorities_enum", but found a string');
    assert.equal(h.sql(db, 'select count(*) from tickets'), '0');
  });

  for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
    test(`${protocol}: mutations with enum values reach a subscription filtering on the enum`, async () => {
      h.sql(db, 'delete from tickets');
      const client = h.connectClient(protocol, server.ws, admin);
      try {
        const got = new h.Collector(protocol);
        client.subscribe(URGENT, {}, got);
        await got.expectNext((v) => v.data && v.data.tickets.length === 0, 'no urgent ticket yet');
        // Equality on the enum column is matched against each change: no polling.
        const cohorts = await h.getJson(server.http + '/v1/live/cohorts', admin);
        const cohort = cohorts.body.find((c) => c.root_field === 'tickets');
        assert.equal(cohort && cohort.mode, 'event', JSON.stringify(cohorts.body));

        const ins = await q(`mutation ($p: priorities_enum) {
          insert_tickets(objects: [{title: "printer", priority: $p}, {title: "fire", priority: urgent}]) {
            returning { title priority } } }`, { p: 'low' });
        assert.equal(ins.errors, undefined, JSON.stringify(ins));
        assert.deepEqual(ins.data.insert_tickets.returning.map((r) => r.priority).sort(), ['low', 'urgent']);
        await got.expectNext((v) => JSON.stringify(v.data) ===
          JSON.stringify({ tickets: [{ title: 'fire', priority: 'urgent' }] }), 'the urgent ticket');

        const upd = await q(`mutation ($from: [priorities_enum!]) {
          update_tickets(where: {priority: {_in: $from}}, _set: {priority: urgent}) { affected_rows } }`,
        { from: ['low', 'high'] });
        assert.equal(upd.errors, undefined, JSON.stringify(upd));
        assert.equal(upd.data.update_tickets.affected_rows, 1);
        await got.expectNext((v) => JSON.stringify(v.data) === JSON.stringify({ tickets: [
          { title: 'printer', priority: 'urgent' }, { title: 'fire', priority: 'urgent' }] }),
        'both tickets urgent');
        assert.equal(h.sql(db, "select string_agg(priority, ',') from tickets"), 'urgent,urgent');
      } finally {
        client.close();
      }
    });
  }
});
