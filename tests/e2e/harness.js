// Test harness: a fresh database on the ctest `pg` fixture's cluster, the liveql binary on a free
// port, JWT signing, and message collectors that wait for a condition with a deadline (never a
// fixed sleep).
'use strict';

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SOURCE_DIR = path.resolve(__dirname, '..', '..');
const PSQL = process.env.LIVEQL_PSQL || '/usr/lib/postgresql/15/bin/psql';
const ADMIN_SECRET = 'e2e-admin-secret';
const JWT_KEY = 'e2e-jwt-secret-0123456789abcdef-0123456789';
// The first line of a report of ASan, LSan, TSan, or UBSan (which goes on after reporting).
const SANITIZER_REPORT = /(ERROR|WARNING): (Address|Leak|Thread)Sanitizer|runtime error: /;

function clusterUrl() {
  if (process.env.LIVEQL_TEST_DATABASE_URL) return process.env.LIVEQL_TEST_DATABASE_URL;
  const dir = process.env.LIVEQL_TEST_PGDIR;
  if (!dir) throw new Error('LIVEQL_TEST_PGDIR is not set (run through ctest: fixture `pg`)');
  return fs.readFileSync(path.join(dir, 'url'), 'utf8').trim();
}

function databaseUrl(name) {
  const u = new URL(clusterUrl());
  u.pathname = '/' + name;
  return u.toString();
}

function psql(url, args, input) {
  return execFileSync(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args], {
    input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

// Drops and recreates `name` (with its replication slots), then loads the demo schema and seed.
// `cluster`: the URL of another cluster than the fixture's (e.g. a test's private one).
function freshDatabase(name, cluster) {
  const admin = cluster || clusterUrl();
  psql(admin, ['-c',
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '${name}'`]);
  psql(admin, ['-c', `drop database if exists ${name} with (force)`]);
  psql(admin, ['-c', `create database ${name}`]);
  const u = new URL(admin);
  u.pathname = '/' + name;
  const url = u.toString();
  psql(url, ['-f', path.join(SOURCE_DIR, 'tools/demo/schema.sql')]);
  psql(url, ['-f', path.join(SOURCE_DIR, 'tools/demo/seed.sql')]);
  return url;
}

function sql(url, statement) {
  return psql(url, ['-A', '-t', '-c', statement]).trim();
}

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

// A token with Hasura claims, signed HS256 (or `alg`: HS384, HS512); `expIn` seconds from now
// when given.
function jwt({ role = 'user', userId = '1', allowed = ['user', 'agent'], expIn, key = JWT_KEY,
  alg = 'HS256' } = {}) {
  const digest = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  if (!digest) throw new Error('harness.jwt: unsupported alg ' + alg);
  const claims = {
    sub: userId,
    iat: Math.floor(Date.now() / 1000),
    'https://hasura.io/jwt/claims': {
      'x-hasura-default-role': role,
      'x-hasura-allowed-roles': allowed,
      'x-hasura-user-id': userId,
    },
  };
  if (expIn !== undefined) claims.exp = Math.floor(Date.now() / 1000) + expIn;
  const input = b64url(JSON.stringify({ alg, typ: 'JWT' })) + '.' + b64url(JSON.stringify(claims));
  const sig = crypto.createHmac(digest, key).update(input).digest('base64url');
  return input + '.' + sig;
}

function liveqlBin() {
  return process.env.LIVEQL_BIN || path.join(SOURCE_DIR, 'build/asan/server/liveql');
}

// A unique slot name (several test files and instances share one cluster).
function uniqueSlot() {
  return 'e2e_' + process.pid + '_' + Math.floor(Math.random() * 1e6);
}

// Runs a one-shot liveql command (e.g. ['slot', 'status', ...]) to completion:
// { status, stdout, stderr }.
function runLiveql(args, { timeoutMs = 60000 } = {}) {
  const r = spawnSync(liveqlBin(), args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Drops a logical slot once its walsender has gone (best effort: the database may be gone).
async function dropSlot(dbUrl, slot) {
  const q = (where) => `select count(*) from pg_replication_slots where slot_name = '${slot}'${where}`;
  try {
    await waitFor(() => sql(dbUrl, q(' and active')) === '0', `slot ${slot} released`, 10000);
    if (sql(dbUrl, q('')) !== '0') sql(dbUrl, `select pg_drop_replication_slot('${slot}')`);
  } catch (e) {
    process.stderr.write(`could not drop slot ${slot}: ${e.message}\n`);
  }
}

// Starts `liveql serve` and resolves once it prints its address. `slot` and `stateDir` default
// to fresh ones; a caller-provided stateDir is kept by stop(); `env` adds environment variables;
// To restart on the same state (e.g. after kill()), pass the previous instance's `stateDir`,
// `slot` and `port`. The returned object also has `pid`, `port`, `slot`, `stateDir`, `child`,
// `exited` (a promise of { code, signal }), `signal(name)` and `kill(signal)`.
// `metadata`: a metadata directory or file other than the demo's.
// `metadata`: a metadata file or directory; `metadataYaml`: the text of one metadata file,
// written to a temporary directory that stop() removes.
async function startLiveql(dbUrl, { extraArgs = [], timeoutMs = 60000, slot, stateDir, env,
  port = 0, metadata, metadataYaml } = {}) {
  const bin = liveqlBin();
  let metadataDir;
  if (metadataYaml !== undefined) {
    metadataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-e2e-metadata-'));
    metadata = path.join(metadataDir, 'metadata.yaml');
    fs.writeFileSync(metadata, metadataYaml);
  }
  const ownStateDir = !stateDir;
  if (!stateDir) stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-e2e-'));
  const ownSlot = !slot;
  if (!slot) slot = uniqueSlot();
  const args = ['serve', '--database-url', dbUrl,
    '--metadata', metadata || path.join(SOURCE_DIR, 'tools/demo/metadata'),
    '--host', '127.0.0.1', '--port', String(port),
    '--admin-secret', ADMIN_SECRET,
    '--jwt-secret', JSON.stringify({ type: 'HS256', key: JWT_KEY }),
    '--refetch-interval-ms', '100',
    '--state-dir', stateDir, '--slot-name', slot,
    ...extraArgs];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let stderr = '';
  let sanitizer = '';  // the first sanitizer report (ASan, UBSan, LSan, TSan) liveql printed
  child.stderr.on('data', (d) => {
    const from = Math.max(0, stderr.length - 100);  // a marker split across two chunks
    stderr += d;
    if (!sanitizer) {
      const at = stderr.slice(from).search(SANITIZER_REPORT);
      if (at >= 0) sanitizer = stderr.slice(from + at, from + at + 20000);
    }
    if (stderr.length > 1e6) stderr = stderr.slice(-5e5);
  });
  const address = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('liveql did not start in time:\n' + stderr)), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/liveql listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`liveql exited with ${code}:\n${stderr}`)); });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    }
  });
  return {
    http: address,
    ws: address.replace(/^http/, 'ws') + '/v1/graphql',
    pid: child.pid,
    port: Number(new URL(address).port),
    child,
    slot,
    stateDir,
    exited,
    stderr: () => stderr,
    signal(name) { child.kill(name); },
    // Sends `signal` and resolves with {code, signal} once the process has exited.
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    // Stops liveql (SIGTERM, SIGKILL after 10 s); throws when it printed a sanitizer report at
    // any time, so that a report fails the test file even when every assertion held.
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(t);
      }
      if (ownStateDir) fs.rmSync(stateDir, { recursive: true, force: true });
      if (metadataDir) fs.rmSync(metadataDir, { recursive: true, force: true });
      // A slot nobody resumes would hold WAL and one of the cluster's max_replication_slots.
      if (ownStateDir && ownSlot) await dropSlot(dbUrl, slot);
      if (sanitizer) throw new Error('liveql printed a sanitizer report:\n' + sanitizer);
    },
    sanitizerReport: () => sanitizer,
  };
}

// GET /metrics parsed: { 'name': value, 'name{labels}': value } for every sample.
async function metrics(httpUrl) {
  const res = await fetch(httpUrl + '/metrics');
  const text = await res.text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

// Cohorts report their mode once replication is up (before that every cohort polls), and
// creating the slot waits for other tests' open transactions: tests that read modes wait first.
async function waitForReplication(server, timeoutMs = 60000) {
  await waitFor(async () => (await metrics(server.http)).liveql_replication_connected === 1,
    'replication to connect', timeoutMs);
}

// Resident set size of a process in kB (/proc/PID/status VmRSS); null once it is gone.
function rssKb(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// "16/B374D848" -> BigInt, for comparing LSNs.
function lsn(text) {
  const [hi, lo] = String(text).split('/');
  return (BigInt('0x' + hi) << 32n) | BigInt('0x' + lo);
}

// Collects values pushed by a client; next() waits for the next one with a deadline.
class Collector {
  constructor(name) { this.name = name; this.items = []; this.waiters = []; this.errors = []; this.done = false; }
  push(v) {
    this.items.push(v);
    const w = this.waiters.shift();
    if (w) w();
  }
  fail(e) { this.errors.push(e); this.push({ error: e }); }
  complete() { this.done = true; this.push({ complete: true }); }
  async next(timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no message within ${timeoutMs} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== wake); resolve(); }, left);
        const wake = () => { clearTimeout(t); resolve(); };
        this.waiters.push(wake);
      });
    }
    return this.items.shift();
  }
  // Waits for a value satisfying `pred`, failing on any other value first.
  async expectNext(pred, what, timeoutMs) {
    const v = await this.next(timeoutMs);
    if (!pred(v)) throw new Error(`${this.name}: expected ${what}, got ${JSON.stringify(v)}`);
    return v;
  }
  pending() { return this.items.length; }
}

async function waitFor(cond, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));  // poll interval, not a wait for the event
  }
}

// A uniform driver over both real clients: protocol 'graphql-transport-ws' (graphql-ws) or
// 'graphql-ws' (subscriptions-transport-ws). No reconnects. `onClose(code, reason)` sees the
// websocket's close. subscribe() returns an unsubscribe function.
function connectClient(protocol, url, headers, { onClose } = {}) {
  const WebSocket = require('ws');
  if (protocol === 'graphql-transport-ws') {
    const { createClient } = require('graphql-ws');
    const client = createClient({
      url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true,
      connectionParams: { headers },
      on: onClose ? { closed: (e) => onClose(e.code, String(e.reason)) } : {},
    });
    return {
      subscribe(query, variables, collector) {
        return client.subscribe({ query, variables }, {
          next: (v) => collector.push(v),
          error: (e) => collector.fail(e),
          complete: () => collector.complete(),
        });
      },
      close: () => client.dispose(),
    };
  }
  if (protocol === 'graphql-ws') {
    const { SubscriptionClient } = require('subscriptions-transport-ws');
    const client = new SubscriptionClient(url, { reconnect: false, connectionParams: { headers } }, WebSocket);
    if (onClose) client.client.addEventListener('close', (e) => onClose(e.code, String(e.reason)));
    return {
      subscribe(query, variables, collector) {
        const sub = client.request({ query, variables }).subscribe({
          next: (v) => collector.push(v),
          error: (e) => collector.fail(e),
          complete: () => collector.complete(),
        });
        return () => sub.unsubscribe();
      },
      close: () => {
        client.close(true);
        // After a close the server initiated, the client keeps its keep-alive check interval
        // running (with no socket), which would keep node alive.
        client.clearCheckConnectionInterval();
        client.clearMaxConnectTimeout();
      },
    };
  }
  throw new Error('unknown protocol ' + protocol);
}

// POST /v1/graphql {query, variables} with `headers`; the parsed answer (HTTP 200 expected, as
// Hasura answers GraphQL errors too).
async function graphql(server, query, variables = {}, headers = {}) {
  const res = await fetch(server.http + '/v1/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}

// A raw websocket (no client library) that records the messages it receives, keep-alives
// (`ping`, `ka`) skipped, and its close event; `protocol` may be empty.
function rawWs(url, protocol) {
  const WebSocket = require('ws');
  const ws = new WebSocket(url, protocol ? [protocol] : []);
  const messages = new Collector('raw ' + protocol);
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (m) => {
    const msg = JSON.parse(m.toString());
    if (msg.type !== 'ping' && msg.type !== 'ka') messages.push(msg);
  });
  const opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  return { ws, messages, closed, opened, send: (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)) };
}

module.exports = {
  ADMIN_SECRET, JWT_KEY, SOURCE_DIR, clusterUrl, databaseUrl, freshDatabase, sql, jwt,
  startLiveql, Collector, waitFor, getJson, graphql,
  liveqlBin, uniqueSlot, runLiveql, metrics, waitForReplication, rssKb, lsn, connectClient, rawWs,
};
