// The liveql console: GraphiQL (React 18 and graphiql 3 UMD builds, served by liveql itself)
// with a connection bar, Analyze (SQL, PostgreSQL's plan, the live plan) and a live view
// (cohorts, table modes, replication lag, commit -> push latency and refetches/s).
//
// Security: the page holds no secret. The admin secret is typed by the user, kept in memory,
// and written to localStorage only while "remember" is ticked. Every request carries the
// headers typed in the bar and in GraphiQL's header editor; nothing goes to another origin.
(function () {
  "use strict";

  const h = React.createElement;
  const { useState, useEffect, useMemo, useRef, useCallback } = React;
  const STORAGE_KEY = "liveql-console:connection";
  const REFRESH_MS = 2000;
  const HISTORY_MS = 5 * 60 * 1000;

  const DEFAULT_QUERY = `# liveql console: run a query, or a subscription and change a row.
# Analyze (toolbar) shows the SQL, PostgreSQL's plan and the live plan.
subscription {
  orders(order_by: {id: asc}, limit: 10) {
    id
    status
  }
}
`;

  // ---- connection ----

  function loadRemembered() {
    try {
      const saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
      if (saved && typeof saved === "object") return Object.assign({ remember: true }, saved);
    } catch (e) {
      // A corrupt entry is ignored: the user types the connection again.
    }
    return null;
  }

  function initialConnection() {
    const base = {
      endpoint: window.location.origin + "/v1/graphql",
      adminSecret: "",
      role: "",
      userId: "",
      remember: false,
    };
    return Object.assign(base, loadRemembered() || {});
  }

  function rememberConnection(conn) {
    if (conn.remember) {
      const { endpoint, adminSecret, role, userId } = conn;
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify({ endpoint, adminSecret, role, userId }));
    } else {
      window.localStorage.removeItem(STORAGE_KEY);
    }
  }

  // The headers of the connection bar; GraphiQL's header editor adds to them.
  function connectionHeaders(conn) {
    const headers = {};
    if (conn.adminSecret) headers["x-hasura-admin-secret"] = conn.adminSecret;
    if (conn.role) headers["x-hasura-role"] = conn.role;
    if (conn.userId) headers["x-hasura-user-id"] = conn.userId;
    return headers;
  }

  function parseHeaderText(text) {
    if (!text || !text.trim()) return {};
    const parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("headers must be a JSON object");
    }
    return parsed;
  }

  function originOf(endpoint) {
    try {
      return new URL(endpoint, window.location.href).origin;
    } catch (e) {
      return window.location.origin;
    }
  }

  function websocketUrl(endpoint) {
    const url = new URL(endpoint, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  // GraphiQL's fetcher: HTTP for queries and mutations, graphql-transport-ws for subscriptions,
  // both with the bar's headers plus the header editor's (passed by GraphiQL as opts.headers).
  function makeFetcher(conn) {
    return function (params, opts) {
      const headers = Object.assign({}, connectionHeaders(conn), (opts && opts.headers) || {});
      const inner = GraphiQL.createFetcher({
        url: conn.endpoint,
        subscriptionUrl: websocketUrl(conn.endpoint),
        headers: headers,
        wsConnectionParams: { headers: headers },
        enableIncrementalDelivery: false,
      });
      return inner(params, Object.assign({}, opts, { headers: {} }));
    };
  }

  // The admin endpoints (explain, live view) get the admin secret alone: with x-hasura-role the
  // session would be that role's, which they refuse. The role and session they explain for
  // travel in the explain body instead.
  function adminHeaders(conn) {
    return conn.adminSecret ? { "x-hasura-admin-secret": conn.adminSecret } : {};
  }

  // `headers`: the request's own (GraphQL: connectionHeaders(); admin: adminHeaders()).
  async function request(conn, headersIn, method, path, body) {
    const headers = Object.assign({ "content-type": "application/json" }, headersIn || {});
    const response = await fetch(originOf(conn.endpoint) + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (e) {
      json = null;
    }
    if (!response.ok) {
      const message = json && (json.error || (json.errors && json.errors[0] && json.errors[0].message));
      throw new Error(path + ": " + (message || response.status + " " + response.statusText));
    }
    return json === null ? text : json;
  }

  // ---- the operation under the cursor ----

  function operationOf(query, operationName) {
    let document;
    try {
      document = GraphiQL.GraphQL.parse(query);
    } catch (e) {
      return { error: "the query does not parse: " + e.message };
    }
    const operations = document.definitions.filter((d) => d.kind === "OperationDefinition");
    if (operations.length === 0) return { error: "the document has no operation" };
    const chosen =
      (operationName && operations.find((o) => o.name && o.name.value === operationName)) || operations[0];
    return { type: chosen.operation, name: chosen.name ? chosen.name.value : null };
  }

  // ---- Analyze ----

  function ModeBadge(props) {
    const mode = props.mode || "default";
    return h("span", { className: "lq-badge lq-" + mode, "data-mode": mode }, mode);
  }

  function indexText(index) {
    if (!index) return "";
    if (index.kind === "column") return "indexed: " + index.column + " " + index.op;
    if (index.kind === "link") return "by link keys of the result";
    if (index.kind === "never") return "never true (a false conjunct)";
    return "scanned (no indexable _eq/_in)";
  }

  function LivePlan(props) {
    const plan = props.plan;
    if (plan.static) return h("p", null, "No SQL: the result is static (only __typename).");
    const cohort = plan.cohort || {};
    return h(
      "div",
      { className: "lq-live-plan" },
      h(
        "p",
        null,
        "Cohort: ",
        h("b", { "data-testid": "cohort-status" }, cohort.status === "joining" ? "joining cohort " + cohort.id + " (" + cohort.subscribers + " subscribers)" : "new"),
        " · mode ",
        h(ModeBadge, { mode: plan.mode }),
        " ",
        h("span", { "data-testid": "mode-reason" }, plan.reason && plan.reason !== plan.mode ? "(" + plan.reason + ")" : "")
      ),
      plan.forced_tables && plan.forced_tables.length
        ? h("p", null, "Forced to event mode (any change refetches the cohort): " + plan.forced_tables.join(", "))
        : null,
      h(
        "table",
        { className: "lq-table" },
        h("thead", null, h("tr", null, ["table", "role", "columns read", "matching", "tractable"].map((t) => h("th", { key: t }, t)))),
        h(
          "tbody",
          null,
          (plan.tables || []).map((t, i) =>
            h(
              "tr",
              { key: i },
              h("td", null, t.table),
              h("td", null, t.role.replace("_", "-") + (t.all_rows_relevant ? " (every row counts)" : "")),
              h("td", null, (t.columns || []).join(", ") || "—", t.link_columns && t.link_columns.length ? h("div", { className: "lq-muted" }, "link: " + t.link_columns.join(", ")) : null),
              h("td", { "data-testid": "index" }, indexText(t.index)),
              h("td", null, t.tractable ? "yes" : "no: " + t.reason)
            )
          )
        )
      ),
      h("h3", null, "Multiplexed SQL (one statement for up to batch-size subscribers)"),
      h("pre", { className: "lq-pre", "data-testid": "live-sql" }, plan.sql)
    );
  }

  function AnalyzePanel(props) {
    const a = props.analysis;
    let body;
    if (a.loading) {
      body = h("p", null, "Analyzing…");
    } else if (a.error) {
      body = h("div", { className: "lq-error", "data-testid": "analyze-error" }, a.error);
    } else {
      body = h(
        React.Fragment,
        null,
        h("p", { className: "lq-muted" }, a.type + (a.name ? " " + a.name : "") + (a.role ? " · as role " + a.role : " · as admin")),
        a.live ? h(React.Fragment, null, h("h3", null, "Live plan"), h(LivePlan, { plan: a.live })) : null,
        a.liveError ? h("div", { className: "lq-error" }, a.liveError) : null,
        explainedFields(a.explain).map((field, i) =>
          h(
            "div",
            { key: i },
            h("h3", null, field.field === undefined ? "Multiplexed SQL (one subscriber's cohort variables)" : "Field " + field.field + ": generated SQL"),
            h("pre", { className: "lq-pre", "data-testid": "sql" }, field.sql || "(no SQL: static field)"),
            field.plan && field.plan.length ? h(React.Fragment, null, h("h3", null, "PostgreSQL plan"), h("pre", { className: "lq-pre", "data-testid": "plan" }, field.plan.join("\n"))) : null
          )
        )
      );
    }
    return h(
      "aside",
      { className: "lq-analyze", "data-testid": "analyze-panel" },
      h("button", { className: "lq-button lq-quiet lq-close", onClick: props.onClose }, "Close"),
      h("h2", null, "Analyze"),
      body
    );
  }

  // /v1/graphql/explain answers a query with one entry per root field and a subscription with
  // one object (its multiplexed statement), as Hasura does.
  function explainedFields(explain) {
    if (Array.isArray(explain)) return explain;
    return explain ? [explain] : [];
  }

  async function analyze(conn, editors) {
    const query = editors.query;
    const op = operationOf(query, editors.operationName);
    if (op.error) return { error: op.error };
    let variables;
    try {
      variables = editors.variables && editors.variables.trim() ? JSON.parse(editors.variables) : undefined;
    } catch (e) {
      return { error: "the variables are not JSON: " + e.message };
    }
    let editorHeaders;
    try {
      editorHeaders = parseHeaderText(editors.headers);
    } catch (e) {
      return { error: "the headers are not JSON: " + e.message };
    }
    // The session to explain for: the session headers typed (x-hasura-role, x-hasura-user-id,
    // ...); the admin secret only authorizes the explain call itself.
    const all = Object.assign({}, connectionHeaders(conn), editorHeaders);
    const user = {};
    Object.keys(all).forEach((k) => {
      const key = k.toLowerCase();
      if (key.startsWith("x-hasura-") && key !== "x-hasura-admin-secret") user[key] = String(all[k]);
    });
    const body = { query: { query: query, variables: variables, operationName: op.name || undefined }, user: user };
    const out = { type: op.type, name: op.name, role: user["x-hasura-role"] || null };
    if (op.type === "mutation") {
      out.error = "mutations are not explained (as in Hasura): run them to see their effect";
      return out;
    }
    try {
      out.explain = await request(conn, adminHeaders(conn), "POST", "/v1/graphql/explain", body);
    } catch (e) {
      out.error = e.message;
      return out;
    }
    if (op.type === "subscription") {
      try {
        out.live = await request(conn, adminHeaders(conn), "POST", "/v1/live/explain", body);
      } catch (e) {
        out.liveError = e.message;
      }
    }
    return out;
  }

  // A toolbar button inside GraphiQL (its editor context is only reachable from there).
  function AnalyzeButton(props) {
    const editors = GraphiQL.React.useEditorContext({ nonNull: true });
    const onClick = () => {
      const q = editors.queryEditor;
      props.onAnalyze({
        query: q ? q.getValue() : "",
        operationName: q ? q.operationName : null,
        variables: editors.variableEditor ? editors.variableEditor.getValue() : "",
        headers: editors.headerEditor ? editors.headerEditor.getValue() : "",
      });
    };
    return h(
      GraphiQL.React.ToolbarButton,
      { label: "Analyze", onClick: onClick, className: "lq-analyze-button" },
      h(
        "svg",
        { viewBox: "0 0 24 24", width: 20, height: 20, fill: "none", stroke: "currentColor", strokeWidth: 1.6, className: "graphiql-toolbar-icon", "aria-hidden": true },
        h("circle", { cx: 10.5, cy: 10.5, r: 6.5 }),
        h("path", { d: "M15.5 15.5 21 21M7.5 11.5l2-2 2 2 2-3" })
      )
    );
  }

  // ---- live view ----

  // Prometheus text -> {name: [{labels, value}]}.
  function parseMetrics(text) {
    const out = {};
    text.split("\n").forEach((line) => {
      if (!line || line[0] === "#") return;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m) return;
      const labels = {};
      (m[3] || "").replace(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g, (all, k, v) => {
        labels[k] = v;
      });
      (out[m[1]] = out[m[1]] || []).push({ labels: labels, value: Number(m[4]) });
    });
    return out;
  }

  function total(metrics, name) {
    return (metrics[name] || []).reduce((s, x) => s + x.value, 0);
  }

  function sampleOf(metrics, now) {
    const buckets = (metrics.liveql_commit_to_push_seconds_bucket || [])
      .map((b) => [b.labels.le === "+Inf" ? Infinity : Number(b.labels.le), b.value])
      .sort((a, b) => a[0] - b[0]);
    return {
      t: now,
      refetches: total(metrics, "liveql_refetches_total"),
      c2pBuckets: buckets,
      c2pSum: total(metrics, "liveql_commit_to_push_seconds_sum"),
      c2pCount: total(metrics, "liveql_commit_to_push_seconds_count"),
    };
  }

  // The q-quantile of the observations between two cumulative bucket lists (upper bounds).
  function quantile(q, before, after) {
    const counts = after.map((b, i) => [b[0], b[1] - ((before[i] && before[i][1]) || 0)]);
    const all = counts.length ? counts[counts.length - 1][1] : 0;
    if (all <= 0) return null;
    const rank = q * all;
    let lower = 0;
    let prevCum = 0;
    for (const [le, cum] of counts) {
      if (cum >= rank) {
        if (!isFinite(le)) return lower;
        const inBucket = cum - prevCum;
        return inBucket > 0 ? lower + ((le - lower) * (rank - prevCum)) / inBucket : le;
      }
      lower = le;
      prevCum = cum;
    }
    return lower;
  }

  function seriesOf(samples) {
    const points = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      const dt = (b.t - a.t) / 1000;
      if (dt <= 0) continue;
      const n = b.c2pCount - a.c2pCount;
      points.push({
        t: b.t,
        rate: Math.max(0, (b.refetches - a.refetches) / dt),
        p50: n > 0 ? quantile(0.5, a.c2pBuckets, b.c2pBuckets) * 1000 : null,
        p99: n > 0 ? quantile(0.99, a.c2pBuckets, b.c2pBuckets) * 1000 : null,
      });
    }
    return points;
  }

  function Chart(props) {
    const ref = useRef(null);
    const { points, lines, title, unit } = props;
    useEffect(() => {
      const canvas = ref.current;
      if (!canvas) return;
      const ratio = window.devicePixelRatio || 1;
      const width = 420;
      const height = 130;
      canvas.width = width * ratio;
      canvas.height = height * ratio;
      canvas.style.width = width + "px";
      canvas.style.height = height + "px";
      const g = canvas.getContext("2d");
      g.scale(ratio, ratio);
      g.clearRect(0, 0, width, height);
      const left = 44;
      const bottom = height - 18;
      const now = Date.now();
      const from = now - HISTORY_MS;
      let max = 0;
      points.forEach((p) => lines.forEach((l) => (max = Math.max(max, p[l.key] || 0))));
      max = max > 0 ? max * 1.15 : 1;
      g.strokeStyle = "#eaecf0";
      g.fillStyle = "#667085";
      g.font = "10px system-ui, sans-serif";
      for (let i = 0; i <= 2; i++) {
        const y = 6 + ((bottom - 6) * i) / 2;
        g.beginPath();
        g.moveTo(left, y);
        g.lineTo(width - 4, y);
        g.stroke();
        g.fillText((max * (1 - i / 2)).toFixed(max < 10 ? 1 : 0), 4, y + 3);
      }
      g.fillText("-5 min", left, height - 4);
      g.fillText("now", width - 26, height - 4);
      const x = (t) => left + ((width - 4 - left) * (t - from)) / HISTORY_MS;
      const y = (v) => bottom - ((bottom - 6) * v) / max;
      lines.forEach((l) => {
        g.strokeStyle = l.color;
        g.lineWidth = 1.8;
        g.beginPath();
        let started = false;
        points.forEach((p) => {
          const v = p[l.key];
          if (v === null || v === undefined || p.t < from) {
            started = false;
            return;
          }
          if (!started) g.moveTo(x(p.t), y(v));
          else g.lineTo(x(p.t), y(v));
          started = true;
        });
        g.stroke();
      });
    }, [points, lines]);
    const shown = points.filter((p) => p[lines[0].key] !== null && p[lines[0].key] !== undefined).length;
    return h(
      "div",
      { className: "lq-chart", "data-points": shown },
      h(
        "div",
        { className: "lq-chart-title" },
        title + " ",
        lines.map((l) => h("span", { key: l.key, style: { color: l.color, marginLeft: 8 } }, "■ " + l.label + (unit ? " (" + unit + ")" : "")))
      ),
      h("canvas", { ref: ref })
    );
  }

  const LATENCY_LINES = [
    { key: "p50", label: "p50", color: "#2d6cdf" },
    { key: "p99", label: "p99", color: "#d92d20" },
  ];
  const RATE_LINES = [{ key: "rate", label: "refetches/s", color: "#039855" }];

  function fmt(n, digits) {
    return n === null || n === undefined || Number.isNaN(n) ? "—" : Number(n).toFixed(digits);
  }

  function LiveView(props) {
    const { conn, active } = props;
    const [cohorts, setCohorts] = useState(null);
    const [tables, setTables] = useState(null);
    const [metrics, setMetrics] = useState(null);
    const [samples, setSamples] = useState([]);
    const [errors, setErrors] = useState({});
    const [metricsSecret, setMetricsSecret] = useState("");
    const [updated, setUpdated] = useState(null);
    const secretRef = useRef("");
    secretRef.current = metricsSecret;

    const refresh = useCallback(async () => {
      const errs = {};
      const [c, t, m] = await Promise.all([
        request(conn, adminHeaders(conn), "GET", "/v1/live/cohorts").catch((e) => ((errs.cohorts = e.message), null)),
        request(conn, adminHeaders(conn), "GET", "/v1/live/tables").catch((e) => ((errs.tables = e.message), null)),
        request(conn, secretRef.current ? { authorization: "Bearer " + secretRef.current } : {}, "GET", "/metrics").catch(
          (e) => ((errs.metrics = e.message), null)
        ),
      ]);
      if (c) setCohorts(c);
      if (t) setTables(t);
      if (typeof m === "string") {
        const parsed = parseMetrics(m);
        setMetrics(parsed);
        const now = Date.now();
        setSamples((old) => old.filter((s) => s.t >= now - HISTORY_MS - REFRESH_MS).concat([sampleOf(parsed, now)]));
      }
      setErrors(errs);
      setUpdated(new Date());
    }, [conn]);

    useEffect(() => {
      if (!active) return undefined;
      refresh();
      const timer = window.setInterval(refresh, REFRESH_MS);
      return () => window.clearInterval(timer);
    }, [active, refresh]);

    const switchMode = async (table, mode) => {
      try {
        const answer = await request(conn, adminHeaders(conn), "POST", "/v1/live/tables", { table: table, mode: mode });
        setTables(answer);
        refresh();
      } catch (e) {
        setErrors(Object.assign({}, errors, { tables: e.message }));
      }
    };

    const points = useMemo(() => seriesOf(samples), [samples]);
    const last = points.length ? points[points.length - 1] : null;
    const gauge = (name) => (metrics ? total(metrics, name) : null);
    const lag = gauge("liveql_replication_lag_bytes");
    const connected = gauge("liveql_replication_connected");

    return h(
      "div",
      { className: "lq-pane lq-live" + (active ? "" : " lq-hidden"), "data-testid": "live-view" },
      h(
        "div",
        { className: "lq-stats" },
        h("div", { className: "lq-stat" }, h("b", { "data-testid": "replication" }, connected === null ? "—" : connected > 0 ? "connected" : "not connected"), h("span", null, "replication")),
        h("div", { className: "lq-stat" }, h("b", { "data-testid": "lag" }, lag === null ? "—" : lag.toLocaleString() + " B"), h("span", null, "slot lag (WAL not yet confirmed)")),
        h("div", { className: "lq-stat" }, h("b", null, fmt(gauge("liveql_subscribers"), 0)), h("span", null, "subscribers")),
        h("div", { className: "lq-stat" }, h("b", null, fmt(gauge("liveql_cohorts"), 0)), h("span", null, "cohorts")),
        h("div", { className: "lq-stat" }, h("b", null, last ? fmt(last.rate, 1) : "—"), h("span", null, "refetches/s")),
        h("div", { className: "lq-stat" }, h("b", null, last && last.p50 !== null ? fmt(last.p50, 1) + " ms" : "—"), h("span", null, "commit → push p50 (last " + REFRESH_MS / 1000 + " s)"))
      ),
      errors.metrics
        ? h(
            "div",
            { className: "lq-error" },
            errors.metrics,
            h("br"),
            "With a metrics secret (--metrics-secret), type it here: ",
            h("input", { type: "password", value: metricsSecret, onChange: (e) => setMetricsSecret(e.target.value), "aria-label": "metrics secret" })
          )
        : null,
      h("h2", null, "Commit → push latency and refetches, last 5 minutes"),
      h(
        "div",
        { className: "lq-charts" },
        h(Chart, { points: points, lines: LATENCY_LINES, title: "commit → push", unit: "ms" }),
        h(Chart, { points: points, lines: RATE_LINES, title: "refetches per second" })
      ),
      h("p", { className: "lq-muted" }, "From the server's own histograms (/metrics liveql_commit_to_push_seconds, liveql_refetches_total), sampled every " + REFRESH_MS / 1000 + " s while this view is open."),
      h("h2", null, "Cohorts"),
      errors.cohorts ? h("div", { className: "lq-error" }, errors.cohorts) : null,
      h(
        "table",
        { className: "lq-table", "data-testid": "cohorts" },
        h(
          "thead",
          null,
          h("tr", null, ["id", "role", "root field", "mode", "reason", "subscribers", "distinct vars", "refetches", "statements", "last refetch", "p99 refetch", "tables"].map((t) => h("th", { key: t }, t)))
        ),
        h(
          "tbody",
          null,
          (cohorts || []).map((c) =>
            h(
              "tr",
              { key: c.id, "data-cohort": c.id },
              h("td", null, c.id),
              h("td", null, c.role),
              h("td", null, c.root_field),
              h("td", null, h(ModeBadge, { mode: c.mode })),
              h("td", null, c.mode_reason),
              h("td", null, c.subscribers),
              h("td", null, c.distinct_variables),
              h("td", null, c.refetches),
              h("td", null, c.statements),
              h("td", null, fmt(c.last_refetch_ms, 2) + " ms"),
              h("td", null, fmt(c.p99_refetch_ms, 2) + " ms"),
              h("td", null, (c.tables || []).join(", "))
            )
          ),
          cohorts && cohorts.length === 0 ? h("tr", null, h("td", { colSpan: 12, className: "lq-muted" }, "No live queries: start a subscription in GraphiQL.")) : null
        )
      ),
      h("h2", null, "Tables"),
      errors.tables ? h("div", { className: "lq-error" }, errors.tables) : null,
      h(
        "table",
        { className: "lq-table", "data-testid": "tables" },
        h("thead", null, h("tr", null, ["table", "mode", "metadata", "operator override", "switch"].map((t) => h("th", { key: t }, t)))),
        h(
          "tbody",
          null,
          (tables || []).map((t) =>
            h(
              "tr",
              { key: t.table, "data-table": t.table },
              h("td", null, t.table),
              h(
                "td",
                { className: "lq-table-mode" },
                h(ModeBadge, { mode: t.mode }),
                t.write_fallback
                  ? h("span", { className: "lq-fallback", title: t.write_fallback }, " polled for its write rate")
                  : null
              ),
              h("td", null, t.metadata_mode),
              h("td", null, t.override || "—"),
              h(
                "td",
                { className: "lq-mode-buttons" },
                ["event", "poll", "default"].map((m) =>
                  h(
                    "button",
                    {
                      key: m,
                      "data-set-mode": m,
                      className: (t.override || "default") === m ? "lq-active" : "",
                      onClick: () => switchMode(t.table, m),
                    },
                    m
                  )
                )
              )
            )
          )
        )
      ),
      h("p", { className: "lq-muted", "data-testid": "updated" }, updated ? "Updated " + updated.toLocaleTimeString() + "; refreshes every " + REFRESH_MS / 1000 + " s." : "Loading…")
    );
  }

  // ---- the page ----

  function ConnectionBar(props) {
    const { draft, setDraft, onApply, status, tab, setTab } = props;
    const field = (key, label, attrs) =>
      h(
        "label",
        null,
        label,
        h(
          "input",
          Object.assign(
            {
              type: "text",
              value: draft[key],
              onChange: (e) => setDraft(Object.assign({}, draft, { [key]: e.target.value })),
              onKeyDown: (e) => e.key === "Enter" && onApply(),
              spellCheck: false,
              autoComplete: "off",
            },
            attrs
          )
        )
      );
    return h(
      "header",
      { className: "lq-bar" },
      h("div", { className: "lq-brand" }, "live", h("span", null, "ql"), " console"),
      field("endpoint", "Endpoint", { className: "lq-endpoint", name: "endpoint" }),
      field("adminSecret", "Admin secret", { type: "password", className: "lq-short", name: "admin-secret", placeholder: "x-hasura-admin-secret" }),
      h(
        "label",
        { title: "Keep the endpoint, admin secret and session in this browser's local storage" },
        h("input", { type: "checkbox", name: "remember", checked: draft.remember, onChange: (e) => setDraft(Object.assign({}, draft, { remember: e.target.checked })) }),
        "remember"
      ),
      field("role", "Role", { className: "lq-short", name: "role", placeholder: "x-hasura-role" }),
      field("userId", "User id", { className: "lq-short", name: "user-id", placeholder: "x-hasura-user-id" }),
      h("button", { className: "lq-button", onClick: onApply, "data-testid": "apply" }, "Apply"),
      h("span", { className: "lq-status" + (status.ok ? " lq-ok" : ""), "data-testid": "status" }, status.text),
      h(
        "nav",
        { className: "lq-tabs" },
        h("button", { className: "lq-tab" + (tab === "graphiql" ? " lq-active" : ""), onClick: () => setTab("graphiql"), "data-tab": "graphiql" }, "GraphiQL"),
        h("button", { className: "lq-tab" + (tab === "live" ? " lq-active" : ""), onClick: () => setTab("live"), "data-tab": "live" }, "Live view")
      )
    );
  }

  function App() {
    const [draft, setDraft] = useState(initialConnection);
    const [conn, setConn] = useState(draft);
    const [tab, setTab] = useState("graphiql");
    const [analysis, setAnalysis] = useState(null);
    const [status, setStatus] = useState({ ok: false, text: "" });

    const apply = () => {
      const next = Object.assign({}, draft);
      rememberConnection(next);
      setConn(next);
    };

    // A cheap request that tells whether the credentials work, shown next to Apply.
    useEffect(() => {
      let cancelled = false;
      request(conn, connectionHeaders(conn), "POST", new URL(conn.endpoint, window.location.href).pathname, { query: "{ __typename }" })
        .then((r) => {
          if (cancelled) return;
          if (r && r.errors) setStatus({ ok: false, text: r.errors[0].message });
          else setStatus({ ok: true, text: conn.adminSecret ? "connected as admin" + (conn.role ? " (role " + conn.role + ")" : "") : "connected" });
        })
        .catch((e) => !cancelled && setStatus({ ok: false, text: e.message }));
      return () => {
        cancelled = true;
      };
    }, [conn]);

    const fetcher = useMemo(() => makeFetcher(conn), [conn]);
    const onAnalyze = useCallback(
      (editors) => {
        setAnalysis({ loading: true });
        analyze(conn, editors).then(setAnalysis, (e) => setAnalysis({ error: String(e && e.message) }));
      },
      [conn]
    );
    const toolbar = useMemo(() => ({ additionalContent: h(AnalyzeButton, { key: "analyze", onAnalyze: onAnalyze }) }), [onAnalyze]);

    return h(
      "div",
      { className: "lq-app" },
      h(ConnectionBar, { draft, setDraft, onApply: apply, status, tab, setTab }),
      h(
        "main",
        { className: "lq-main" },
        h(
          "div",
          { className: "lq-pane" + (tab === "graphiql" ? "" : " lq-hidden"), "data-testid": "graphiql" },
          h(GraphiQL, {
            fetcher: fetcher,
            defaultQuery: DEFAULT_QUERY,
            toolbar: toolbar,
            shouldPersistHeaders: false,
            defaultEditorToolsVisibility: true,
          }),
          analysis ? h(AnalyzePanel, { analysis: analysis, onClose: () => setAnalysis(null) }) : null
        ),
        h(LiveView, { conn: conn, active: tab === "live" })
      )
    );
  }

  ReactDOM.createRoot(document.getElementById("root")).render(h(App));
})();
