// Test harness: a fresh database on the ctest `pg` fixture's cluster, the liveql binary on a free
// port, JWT signing, and message collectors that wait for a condition with a deadline (never a
// fixed sleep).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SOURCE_DIR = path.resolve(__dirname, '..', '..');
const PSQL = process.env.LIVEQL_PSQL || '/usr/lib/postgresql/15/bin/psql';
const ADMIN_SECRET = 'e2e-admin-secret';
const JWT_KEY = 'e2e-jwt-secret-0123456789abcdef-0123456789';

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

// An HS256 token with Hasura claims; `expIn` seconds from now when given.
function jwt({ role = 'user', userId = '1', allowed = ['user', 'agent'], expIn, key = JWT_KEY } = {}) {
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
  const input = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' + b64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', key).update(input).digest('base64url');
  return input + '.' + sig;
}

// Starts `liveql serve` and resolves once it prints its address. To restart on the same state
// (e.g. after kill()), pass the previous instance's `stateDir`, `slot` and `port`; a stateDir given
// by the caller is not removed by stop().
async function startLiveql(dbUrl, { extraArgs = [], timeoutMs = 60000, stateDir: givenStateDir,
  slot: givenSlot, port = 0 } = {}) {
  const bin = process.env.LIVEQL_BIN || path.join(SOURCE_DIR, 'build/asan/server/liveql');
  const stateDir = givenStateDir || fs.mkdtempSync(path.join(os.tmpdir(), 'liveql-e2e-'));
  const slot = givenSlot || 'e2e_' + process.pid + '_' + Math.floor(Math.random() * 1e6);
  const args = ['serve', '--database-url', dbUrl,
    '--metadata', path.join(SOURCE_DIR, 'tools/demo/metadata'),
    '--host', '127.0.0.1', '--port', String(port),
    '--admin-secret', ADMIN_SECRET,
    '--jwt-secret', JSON.stringify({ type: 'HS256', key: JWT_KEY }),
    '--refetch-interval-ms', '100',
    '--state-dir', stateDir, '--slot-name', slot,
    ...extraArgs];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 1e6) stderr = stderr.slice(-5e5); });
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
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    http: address,
    ws: address.replace(/^http/, 'ws') + '/v1/graphql',
    port: Number(new URL(address).port),
    stateDir,
    slot,
    child,
    exited,
    stderr: () => stderr,
    // Sends `signal` and resolves with {code, signal} once the process has exited.
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(t);
      }
      if (!givenStateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
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

async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}

module.exports = {
  ADMIN_SECRET, JWT_KEY, SOURCE_DIR, clusterUrl, databaseUrl, freshDatabase, sql, jwt,
  startLiveql, Collector, waitFor, getJson,
};
