// The console (GET /console) in a real browser: Debian's chromium, headless, driven by
// puppeteer-core, against the liveql binary on the `pg` fixture's cluster with the demo schema.
// Every wait is for a condition with a deadline. With LIVEQL_SCREENSHOTS_DIR set, the query,
// Analyze and live views are saved there as PNGs (docs/ holds the committed ones).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const h = require('../e2e/harness.js');

const CHROMIUM = process.env.LIVEQL_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.LIVEQL_SCREENSHOTS_DIR || '';
const DEADLINE_MS = 20000;

let db;
let lq;
let browser;
let page;
let profile;
const requests = [];  // every URL the page asked for (HTTP and websocket)
const pageErrors = [];
const consoleErrors = [];  // reported with a failure

// A raw GET whose path reaches the server as written (fetch would normalize "..").
function rawGet(base, target) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: target, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// Polls `fn` until it answers truthy; past the deadline, fails with what the page shows.
async function waitFor(what, fn, timeoutMs = DEADLINE_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      const shown = page ? await editorText('.result-window').catch(() => '') : '';
      throw new Error('timed out waiting for ' + what + '; result pane: ' + shown +
        '; page errors: ' + pageErrors.join(' | ') + '; console: ' + consoleErrors.join(' | '));
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function editorText(selector) {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel + ' .CodeMirror');
    return el && el.CodeMirror ? el.CodeMirror.getValue() : '';
  }, selector);
}

// Replaces the query and waits until GraphiQL has parsed it (it does so a moment after the
// change, and executes with the operation name it parsed last).
async function setQuery(text, operationName) {
  await page.evaluate((t) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(t);
  }, text);
  await waitFor('GraphiQL to parse ' + operationName, () => page.evaluate((name) =>
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.operationName === name,
  operationName));
}

async function result() {
  const text = await editorText('.result-window');
  try {
    return JSON.parse(text);
  } catch (e) {
    return null;
  }
}

async function screenshot(name) {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, name) });
}

before(async () => {
  db = h.freshDatabase('liveql_browser');
  lq = await h.startLiveql(db, { extraArgs: ['--enable-console'] });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    // Root in a container has no user namespaces for chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 860 });
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
    if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) pageErrors.push(m.text());
  });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketCreated', (e) => requests.push(e.url));
});

after(async () => {
  if (browser) await browser.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  if (lq) await lq.stop();
});

test('the console is served offline, with content types, and no path escapes its folder', async () => {
  const root = await rawGet(lq.http, '/');
  assert.equal(root.status, 307);
  assert.equal(root.headers.location, '/console');
  const index = await rawGet(lq.http, '/console');
  assert.equal(index.status, 200);
  assert.match(index.headers['content-type'], /^text\/html/);
  assert.match(index.headers['content-security-policy'], /default-src 'self'/);
  assert.doesNotMatch(index.body, /https?:\/\//, 'the page names no other origin');
  const js = await rawGet(lq.http, '/console/vendor/graphiql.min.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  assert.equal((await rawGet(lq.http, '/console/console.css')).headers['content-type'],
    'text/css; charset=utf-8');
  const own = await rawGet(lq.http, '/console/console.js');
  assert.ok(!own.body.includes(h.ADMIN_SECRET), 'no secret in the page source');
  for (const target of ['/console/../../../../etc/passwd', '/console/..%2f..%2fetc%2fpasswd',
    '/console/%2e%2e/%2e%2e/etc/passwd', '/console//etc/passwd', '/console/vendor/../../README.md',
    '/console/../server/liveql', '/console/nope.js', '/consolex']) {
    const r = await rawGet(lq.http, target);
    assert.equal(r.status, 404, target);
    assert.doesNotMatch(r.body, /root:/, target);
  }
});

test('a server without --enable-console answers 404 on / and /console', async () => {
  const plain = await h.startLiveql(db);
  try {
    assert.equal((await rawGet(plain.http, '/')).status, 404);
    assert.equal((await rawGet(plain.http, '/console')).status, 404);
    assert.equal((await rawGet(plain.http, '/console/console.js')).status, 404);
  } finally {
    await plain.stop();
  }
});

test('the console: query, live subscription, Analyze, live view, table modes', async () => {
  await page.goto(lq.http + '/', { waitUntil: 'load' });
  assert.equal(new URL(page.url()).pathname, '/console');
  await page.waitForSelector('.graphiql-container', { timeout: DEADLINE_MS });

  // The admin secret, typed by the user; "remember" stays unticked.
  await page.type('input[name=admin-secret]', h.ADMIN_SECRET);
  await page.click('[data-testid=apply]');
  await waitFor('the connection status', () =>
    page.$eval('[data-testid=status]', (e) => e.textContent.includes('connected as admin')));

  // A query, read back from GraphiQL's result pane.
  const expected = h.sql(db, 'select status from orders where id = 1');
  await setQuery('query Orders {\n  orders(order_by: {id: asc}, limit: 3) {\n    id\n    status\n    total\n  }\n}\n', 'Orders');
  await page.click('.graphiql-execute-button');
  const data = await waitFor('the query result', async () => {
    const r = await result();
    return r && r.data && r.data.orders ? r.data : null;
  });
  assert.equal(data.orders.length, 3);
  assert.equal(data.orders[0].id, 1);
  assert.equal(data.orders[0].status, expected);
  // A mutation, over the same HTTP endpoint.
  await setQuery('mutation Total {\n  update_orders_by_pk(pk_columns: {id: 3}, _set: {total: 41.5}) {\n    id\n    total\n  }\n}\n', 'Total');
  await page.click('.graphiql-execute-button');
  await waitFor('the mutation result', async () => {
    const r = await result();
    return r && r.data && r.data.update_orders_by_pk && r.data.update_orders_by_pk.total === 41.5;
  });
  assert.equal(h.sql(db, 'select total from orders where id = 3'), '41.50');
  await setQuery('query Orders {\n  orders(order_by: {id: asc}, limit: 3) {\n    id\n    status\n    total\n  }\n}\n', 'Orders');
  await page.click('.graphiql-execute-button');
  await waitFor('the query result again', async () => {
    const r = await result();
    return r && r.data && r.data.orders && r.data.orders[2].total === 41.5;
  });

  // The docs explorer, from introspection with the typed headers.
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await waitFor('the docs explorer', () => page.$eval('.graphiql-doc-explorer',
    (e) => e.textContent.includes('query_root') && e.textContent.includes('subscription_root'))
    .catch(() => false));
  await screenshot('console-query.png');
  await page.click('button[aria-label="Hide Documentation Explorer"]');

  // A subscription over graphql-transport-ws: the row changed with SQL shows up within 1 s.
  await setQuery('subscription Order2 {\n  orders_by_pk(id: 2) {\n    id\n    status\n  }\n}\n',
    'Order2');
  await page.click('.graphiql-execute-button');
  const first = h.sql(db, 'select status from orders where id = 2');
  await waitFor('the first subscription result', async () => {
    const r = await result();
    return r && r.data && r.data.orders_by_pk && r.data.orders_by_pk.status === first;
  });
  for (const next of first === 'delivering' ? ['preparing', 'delivering'] : ['delivering', 'preparing']) {
    const changed = Date.now();
    h.sql(db, `update orders set status = '${next}' where id = 2`);
    await waitFor(`the subscription showing ${next}`, async () => {
      const r = await result();
      return r && r.data && r.data.orders_by_pk && r.data.orders_by_pk.status === next;
    }, 1000);
    assert.ok(Date.now() - changed < 1000, 'pushed within 1 s');
  }

  // Analyze: the generated SQL, PostgreSQL's plan, and the live plan of the running
  // subscription (it joins the cohort the subscription started, in event mode).
  await page.click('button[aria-label=Analyze]');
  await page.waitForSelector('[data-testid=live-sql]', { timeout: DEADLINE_MS });
  const sqlText = await page.$eval('[data-testid=sql]', (e) => e.textContent);
  assert.match(sqlText, /SELECT/i);
  assert.match(sqlText, /orders/);
  const planText = await page.$eval('[data-testid=plan]', (e) => e.textContent);
  assert.match(planText, /Scan|Result/);
  const mode = await page.$eval('.lq-live-plan [data-mode]', (e) => e.textContent);
  assert.equal(mode, 'event');
  const cohort = await page.$eval('[data-testid=cohort-status]', (e) => e.textContent);
  assert.match(cohort, /^joining cohort \d+/);
  const index = await page.$$eval('[data-testid=index]', (els) => els.map((e) => e.textContent));
  assert.ok(index.includes('indexed: id _eq'), 'the primary key lookup is indexed: ' + index);
  await screenshot('console-analyze.png');
  await page.click('.lq-close');

  // The live view: the subscription's cohort, the tables, the lag, and a chart fed by commits.
  await page.click('[data-tab=live]');
  await waitFor('the cohort in the live view', () =>
    page.$$eval('[data-testid=cohorts] tbody tr', (rows) =>
      rows.some((r) => r.textContent.includes('orders_by_pk') && r.textContent.includes('event'))));
  await waitFor('the replication lag', () =>
    page.$eval('[data-testid=lag]', (e) => /\d B$/.test(e.textContent)));
  // Commits that change the subscription's result, so each is pushed and timed.
  let n = 0;
  await waitFor('commit -> push latency in the chart', async () => {
    const status = n++ % 2 ? 'preparing' : 'delivering';
    h.sql(db, `update orders set status = '${status}' where id = 2`);
    return page.$$eval('.lq-stat', (els) => els.some((e) => /ms$/.test(e.querySelector('b').textContent)));
  }, 30000);

  // Switch orders to poll, then back to the default, from the page.
  const row = '[data-testid=tables] tr[data-table="public.orders"]';
  await page.click(`${row} button[data-set-mode=poll]`);
  await waitFor('orders in poll mode', () =>
    page.$eval(`${row} .lq-table-mode`, (e) => e.textContent === 'poll'));
  await waitFor('the cohort polling', () =>
    page.$$eval('[data-testid=cohorts] tbody tr', (rows) =>
      rows.some((r) => r.textContent.includes('orders_by_pk') && r.querySelector('[data-mode=poll]'))));
  const tables = await (await fetch(lq.http + '/v1/live/tables',
    { headers: { 'x-hasura-admin-secret': h.ADMIN_SECRET } })).json();
  assert.equal(tables.find((t) => t.table === 'public.orders').override, 'poll');
  await page.click(`${row} button[data-set-mode=default]`);
  await waitFor('orders back in event mode', () =>
    page.$eval(`${row} .lq-table-mode`, (e) => e.textContent === 'event'));
  await waitFor('the cohort back in event mode', () =>
    page.$$eval('[data-testid=cohorts] tbody tr', (rows) =>
      rows.some((r) => r.textContent.includes('orders_by_pk') && r.querySelector('[data-mode=event]'))));
  if (SCREENSHOTS) {
    // For the picture: commits until the latency chart holds a minute of points.
    await waitFor('a minute of latency points', async () => {
      const status = n++ % 2 ? 'preparing' : 'delivering';
      h.sql(db, `update orders set status = '${status}' where id = 2`);
      return page.$eval('.lq-chart[data-points]', (e) => Number(e.dataset.points) >= 30);
    }, 120000);
  }
  await screenshot('console-live.png');

  // The secret stayed out of storage and URLs; "remember" writes it, unticking removes it.
  const storage = await page.evaluate(() => JSON.stringify(Object.assign({}, window.localStorage)));
  assert.ok(!storage.includes(h.ADMIN_SECRET), 'no secret in localStorage without "remember"');
  await page.click('input[name=remember]');
  await page.click('[data-testid=apply]');
  assert.ok((await page.evaluate(() => JSON.stringify(Object.assign({}, window.localStorage))))
    .includes(h.ADMIN_SECRET));
  await page.click('input[name=remember]');
  await page.click('[data-testid=apply]');
  assert.ok(!(await page.evaluate(() => JSON.stringify(Object.assign({}, window.localStorage))))
    .includes(h.ADMIN_SECRET));

  // The role and session switcher: as user 1, only user 1's orders.
  await page.type('input[name=role]', 'user');
  await page.type('input[name=user-id]', '1');
  await page.click('[data-testid=apply]');
  await waitFor('the user session', () =>
    page.$eval('[data-testid=status]', (e) => e.textContent.includes('(role user)')));
  await page.click('[data-tab=graphiql]');
  await page.click('button[aria-label="Stop query (Ctrl-Enter)"]');  // the subscription
  await page.waitForSelector('button[aria-label="Execute query (Ctrl-Enter)"]');
  await setQuery('query Mine {\n  orders {\n    id\n    user_id\n  }\n}\n', 'Mine');
  await page.click('.graphiql-execute-button');
  const mine = await waitFor('the user\'s orders', async () => {
    const r = await result();
    return r && r.data && r.data.orders && r.data.orders.every((o) => o.user_id === 1) ? r.data : null;
  });
  assert.equal(mine.orders.length, Number(h.sql(db, 'select count(*) from orders where user_id = 1')));
  // With a role typed, the live view still reads the admin endpoints (the secret alone).
  await page.click('[data-tab=live]');
  const refreshed = await page.$eval('[data-testid=updated]', (e) => e.textContent);
  await waitFor('the live view refreshed as admin', () => page.$eval('[data-testid=updated]',
    (e, before) => e.textContent !== before, refreshed));
  assert.equal(await page.$$eval('.lq-live .lq-error', (els) => els.length), 0);
  assert.deepEqual(consoleErrors.filter((e) => /status of 4\d\d/.test(e)), []);

  // Nothing outside the liveql origin, and no secret in any URL.
  const origin = new URL(lq.http);
  assert.ok(requests.length > 5);
  for (const url of requests) {
    if (url.startsWith('data:')) continue;
    const u = new URL(url);
    assert.equal(u.host, origin.host, 'request outside the liveql origin: ' + url);
    assert.ok(!url.includes(h.ADMIN_SECRET), 'secret in a URL: ' + url);
  }
  assert.ok(requests.some((u) => u.startsWith('ws://')), 'the subscription used a websocket');
  assert.deepEqual(pageErrors, []);
});

test('admin endpoints the console uses stay admin-only', async () => {
  const body = JSON.stringify({ query: { query: 'subscription { orders { id } }' } });
  for (const [method, path] of [['POST', '/v1/live/explain'], ['POST', '/v1/graphql/explain'],
    ['GET', '/v1/live/cohorts'], ['GET', '/v1/live/tables']]) {
    const r = await fetch(lq.http + path, { method, body: method === 'POST' ? body : undefined,
      headers: { authorization: 'Bearer ' + h.jwt() } });
    assert.equal(r.status, 400, path);
    assert.match((await r.json()).error, /admin only/, path);
  }
  const ok = await fetch(lq.http + '/v1/live/explain', { method: 'POST', body,
    headers: { 'x-hasura-admin-secret': h.ADMIN_SECRET } });
  assert.equal(ok.status, 200);
  const plan = await ok.json();
  assert.equal(plan.root_field, 'orders');
  assert.ok(['new', 'joining'].includes(plan.cohort.status));
  assert.equal(plan.tables[0].table, 'public.orders');
  // As a user: the permission filter user_id = X-Hasura-User-Id is the indexed conjunct.
  const asUser = await fetch(lq.http + '/v1/live/explain', { method: 'POST',
    body: JSON.stringify({ query: { query: 'subscription { orders { id status } }' },
      user: { 'x-hasura-role': 'user', 'x-hasura-user-id': '1' } }),
    headers: { 'x-hasura-admin-secret': h.ADMIN_SECRET } });
  assert.equal(asUser.status, 200);
  const userPlan = await asUser.json();
  assert.equal(userPlan.role, 'user');
  assert.equal(userPlan.mode, 'event');
  assert.deepEqual(userPlan.tables[0].index, { kind: 'column', column: 'user_id', op: '_eq' });
  const query = await fetch(lq.http + '/v1/live/explain', { method: 'POST',
    body: JSON.stringify({ query: { query: '{ orders { id } }' } }),
    headers: { 'x-hasura-admin-secret': h.ADMIN_SECRET } });
  assert.equal(query.status, 400);
  assert.match((await query.json()).error, /only subscriptions/);
});
