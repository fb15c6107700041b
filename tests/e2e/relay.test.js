// The Relay API (/v1beta1/relay) over real sockets: a connection query over HTTP with its
// cursors and pageInfo, node(id) with an id read back from a connection, a role's permission
// hiding a node, errors in Hasura's shape, and a connection subscription over both websocket
// protocols that is pushed the page a committed insert changes.
'use strict';

const { describe, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const DB_NAME = 'liveql_e2e_relay';
const admin = { 'x-hasura-admin-secret': h.ADMIN_SECRET };
const b64 = (s) => Buffer.from(s).toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString();

async function relay(server, query, variables = {}, headers = admin) {
  const res = await fetch(server.http + '/v1beta1/relay', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

describe('relay', () => {
  let db;
  let server;
  let dir;

  before(async () => {
    db = h.freshDatabase(DB_NAME);
    h.sql(db, `create table shelf (id serial primary key, label text not null);
      create table book (id serial primary key, shelf_id int not null references shelf,
                         title text not null, public boolean not null default true);
      insert into shelf (label) values ('fiction'), ('poetry');
      insert into book (shelf_id, title, public) values
        (1, 'Dune', true), (1, 'Emma', false), (1, 'Ulysses', true), (2, 'Odes', true);`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-e2e-relay-'));
    const metadata = path.join(dir, 'metadata.json');
    fs.writeFileSync(metadata, JSON.stringify([
      {
        table: { schema: 'public', name: 'shelf' },
        array_relationships: [{ name: 'books', using: { foreign_key_constraint_on: { table: 'book', column: 'shelf_id' } } }],
        select_permissions: [{ role: 'reader', permission: { columns: ['label'], filter: {} } }],
      },
      {
        table: { schema: 'public', name: 'book' },
        select_permissions: [{ role: 'reader', permission: { columns: ['title'], filter: { public: { _eq: true } } } }],
      },
    ]));
    server = await h.startLiveql(db, { metadata });
    await h.waitForReplication(server);
  });
  after(async () => {
    if (server) await server.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a connection pages forward with Hasura\'s cursors and pageInfo', async () => {
    const page = `query ($after: String) { book_connection(first: 2, after: $after, order_by: {title: asc}) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id title } } } }`;
    const first = await relay(server, page);
    const c = first.data.book_connection;
    assert.deepEqual(c.edges.map((e) => e.node.title), ['Dune', 'Emma']);
    assert.equal(unb64(c.edges[0].cursor), '{"title" : "Dune", "id" : 1}');
    assert.equal(unb64(c.edges[0].node.id), '[1, "public", "book", 1]');
    assert.deepEqual([c.pageInfo.hasNextPage, c.pageInfo.hasPreviousPage], [true, false]);
    assert.equal(c.pageInfo.endCursor, c.edges[1].cursor);
    const second = (await relay(server, page, { after: c.pageInfo.endCursor })).data.book_connection;
    assert.deepEqual(second.edges.map((e) => e.node.title), ['Odes', 'Ulysses']);
    assert.deepEqual([second.pageInfo.hasNextPage, second.pageInfo.hasPreviousPage], [false, true]);
  });

  test('node(id) answers the row an id names, within the role\'s permission', async () => {
    const q = `query ($id: ID!) { node(id: $id) { __typename id ... on book { title } ... on shelf { label } } }`;
    const emma = b64('[1, "public", "book", 2]');
    assert.deepEqual(await relay(server, q, { id: emma }),
      { data: { node: { __typename: 'book', id: emma, title: 'Emma' } } });
    const shelf = b64('[1, "public", "shelf", 2]');
    assert.deepEqual(await relay(server, q, { id: shelf }),
      { data: { node: { __typename: 'shelf', id: shelf, label: 'poetry' } } });
    // Emma is not public: the reader role gets null, not an error.
    const reader = { ...admin, 'x-hasura-role': 'reader' };
    assert.deepEqual(await relay(server, q, { id: emma }, reader), { data: { node: null } });
    const dune = b64('[1, "public", "book", 1]');
    assert.deepEqual(await relay(server, q, { id: dune }, reader),
      { data: { node: { __typename: 'book', id: dune, title: 'Dune' } } });
  });

  test('a mutation on the Relay endpoint returns global ids', async () => {
    const res = await relay(server, `mutation { insert_book_one(object: {shelf_id: 2, title: "Iliad"}) {
      id title } }`);
    const row = res.data.insert_book_one;
    assert.equal(row.title, 'Iliad', JSON.stringify(res));
    const id = Number(h.sql(db, "select id from book where title = 'Iliad'"));
    assert.equal(unb64(row.id), `[1, "public", "book", ${id}]`);
    h.sql(db, "delete from book where title = 'Iliad'");
  });

  test('errors come in Hasura\'s shape and wording', async () => {
    const both = await relay(server, '{ book_connection(first: 1, last: 1) { edges { cursor } } }');
    assert.deepEqual(both.errors, [{ message: '"first" and "last" are not allowed at once',
      extensions: { path: '$.selectionSet.book_connection.args', code: 'validation-failed' } }]);
    const notArray = await relay(server, `{ node(id: "${b64('{"id": 1}')}") { id } }`);
    assert.deepEqual(notArray.errors, [{
      message: 'invalid node id: Error in $: parsing node id failed, expected Array, but encountered Object',
      extensions: { path: '$.selectionSet.node.args.id', code: 'validation-failed' } }]);
    const cursor = await relay(server, '{ book_connection(after: "bm9wZQ==") { edges { cursor } } }');
    assert.equal(cursor.errors[0].message, 'the "after" or "before" cursor is invalid');
    // The ordinary schema has no Relay fields, and the Relay schema no _by_pk.
    const plain = await h.graphql(server, '{ book_connection { edges { cursor } } }', {}, admin);
    assert.match(plain.errors[0].message, /^field .book_connection. not found in type: 'query_root'$/);
    const byPk = await relay(server, '{ book_by_pk(id: 1) { title } }');
    assert.match(byPk.errors[0].message, /^field .book_by_pk. not found in type: 'query_root'$/);
  });

  for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
    test(`${protocol}: a connection subscription is pushed the page an insert changes`, async () => {
      const client = h.connectClient(protocol, server.ws.replace('/v1/graphql', '/v1beta1/relay'), admin);
      try {
        const got = new h.Collector(protocol);
        client.subscribe(`subscription { shelf_connection(where: {id: {_eq: 2}}) { edges { node {
          label books_connection(last: 2) { pageInfo { hasPreviousPage } edges { node { title } } } } } } }`,
        {}, got);
        const titles = (v) => v.data.shelf_connection.edges[0].node.books_connection.edges.map((e) => e.node.title);
        await got.expectNext((v) => v.data && titles(v).join() === 'Odes', 'the first result');
        // A connection is an ordinary cohort: equality on the key, matched against each change.
        const cohorts = await h.getJson(server.http + '/v1/live/cohorts', admin);
        const cohort = cohorts.body.find((c) => c.root_field === 'shelf_connection');
        assert.equal(cohort && cohort.mode, 'event', JSON.stringify(cohorts.body));
        h.sql(db, "insert into book (shelf_id, title) values (2, 'Sonnets'), (2, 'Elegies')");
        const next = await got.expectNext((v) => v.data && titles(v).join() === 'Sonnets,Elegies',
          'the last two books after the insert');
        assert.equal(next.data.shelf_connection.edges[0].node.books_connection.pageInfo.hasPreviousPage, true);
      } finally {
        client.close();
        h.sql(db, "delete from book where title in ('Sonnets', 'Elegies')");
      }
    });
  }
});
