/*
 * theLook CDC dashboard page (plain JS, no build step). Data contract: dashboard/SNAPSHOT.md.
 *
 * The page opens EventSource('/events'), renders every `snapshot` event in place (text and attributes
 * are only written when they change; the two uPlot charts get setData and are recreated only when
 * their series set changes) and POSTs the actions. With `?token=...` in the page URL every POST
 * carries it as the header X-Dashboard-Token.
 *
 * window.dashboardStats = {snapshots, lastRenderMs, maxRenderMs}: snapshots rendered, and the time of
 * the last / slowest render in ms (performance.now() around the render, chart redraws included).
 *
 * Stable test hooks (data-testid; raw numbers in data-* attributes, "" when the value is null):
 *   connection                 header connection state, data-state = connecting | open | stale | disconnected
 *   prefix-schema              the prefix and schema; snapshot-time: the snapshot's time (data-time, epoch s)
 *   source-banner              the banner (hidden when every source is ok)
 *   source-<name>              one per source with ok=false: "<Name> unreachable: <error>", data-error
 *   pipeline                   the strip of stage cards
 *   stage-<id>                 stage card, data-state = green | amber | red | unknown
 *   stage-<id>-name, stage-<id>-state (ok | warning | problem | no data), stage-<id>-detail
 *   stage-<id>-rates, stage-<id>-rate-<i>   i-th rate (0-based), data-value (raw number), data-unit, data-label
 *   stage-<id>-lags, stage-<id>-lag-<i>     i-th lag, same attributes
 *   stage-<id>-alerts          the alert list, data-count (all of the stage's alerts)
 *   stage-<id>-alert-0         the most severe alert (firing before pending, critical first): data-name,
 *                              data-state (pending | firing), data-severity; stage-<id>-alerts-more: the others
 *   panel-<analytics name>     panel-revenue_per_minute, panel-status_counts, panel-funnel_per_minute,
 *                              panel-top_products_last_hour, panel-stock_per_dc: data-empty = true | false
 *   panel-<analytics name>-updated  the data's age, data-updated (epoch s); panel-<name>-empty: the empty text
 *   revenue-legend, revenue-total (data-value: revenue of the 30 minutes), revenue-<department> (data-value)
 *   top-categories, category-<i> (1-based, data-department, data-category, data-revenue, data-items)
 *   status-<entity>-<Status>   count cell, entity = orders | order_items, data-value; status-<entity>-total
 *   funnel-legend, funnel-<series> (sessions | carts | purchases: 30-minute sums, data-value),
 *   funnel-conversion          data-value = purchases / sessions over the 30 minutes (0..1)
 *   top-window                 the top-10 window, data-start / data-end (ISO)
 *   top-<rank>                 top-10 row, data-rank, data-product-id, data-revenue, data-items
 *   stock-<dc_id>              stock row, data-name, data-in-stock, data-sold, data-written-off
 *   panel-verify, verify-button, verify-state (data-state = idle | running | done, data-run),
 *   verify-verdict (data-verdict), verify-message, verify-elapsed, verify-progress, verify-time
 *   (data-finished), verify-error (the server's refusal of POST /api/verify, e.g. its 409 message),
 *   verify-tables, verify-table-<table> (data-events, data-rows-postgres, data-matched, data-missing,
 *   data-extra, data-different)
 *   panel-controls             shown only when controls.enabled
 *   control-<action>           the button of an action of controls.available (control-connector.pause,
 *                              control-flink.resubmit, ...); control-generator.rate is the "Set" button
 *                              for control-generator.rate-input; quick rates control-generator.rate-5,
 *                              -20, -50, -100. Actions not in controls.available are hidden.
 *   control-busy (data-action), control-last (data-ok = true | false, data-action), control-response
 *   (the answer of this page's last POST: data-ok, data-status, data-action; visible only when refused:
 *   non-2xx, "HTTP 409: <error>"), generator-rate (data-value), connector-state (data-state),
 *   flink-state (data-running, data-total)
 */
(function () {
  'use strict';

  var stats = { snapshots: 0, lastRenderMs: 0, maxRenderMs: 0 };
  window.dashboardStats = stats;

  var TOKEN = null;
  try { TOKEN = new URLSearchParams(window.location.search).get('token'); } catch (e) { TOKEN = null; }

  // ------------------------------------------------------------------ helpers
  function $(id) { return document.getElementById(id); }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function obj(v) { return v && typeof v === 'object' && !Array.isArray(v) ? v : null; }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function str(v) { return v == null ? '' : String(v); }
  function raw(v) { return isNum(v) ? String(v) : ''; }

  function setText(el, s) {
    s = str(s);
    if (el.__text !== s) { el.textContent = s; el.__text = s; }
  }
  function setAttr(el, k, v) {
    v = str(v);
    if (el.getAttribute(k) !== v) el.setAttribute(k, v);
  }
  function setClass(el, cls) {
    if (el.className !== cls) el.className = cls;
  }
  function setHidden(el, h) {
    h = !!h;
    if (el.hidden !== h) el.hidden = h;
  }
  function setStyle(el, k, v) {
    if (el.style[k] !== v) el.style[k] = v;
  }
  function make(tag, cls, testid) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (testid) e.setAttribute('data-testid', testid);
    return e;
  }
  // Keep container's children in step with n items: create missing rows, drop extra ones.
  function syncRows(container, n, create) {
    var rows = container.__rows || (container.__rows = []);
    while (rows.length < n) { var r = create(rows.length); rows.push(r); container.appendChild(r.el); }
    while (rows.length > n) { var x = rows.pop(); container.removeChild(x.el); }
    return rows;
  }

  // v with d decimals and thousands separators ("12,345.6"); plain string work, as Intl formatters
  // cost milliseconds each to create and this runs a few hundred times per snapshot
  function fixed(v, d) {
    var t = Math.abs(v).toFixed(d);
    var dot = t.indexOf('.');
    var whole = dot < 0 ? t : t.slice(0, dot);
    if (whole.length > 3) whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (v < 0 && Number(t) !== 0 ? '−' : '') + whole + (dot < 0 ? '' : t.slice(dot));
  }
  function fmtInt(v) { return isNum(v) ? fixed(Math.round(v), 0) : '–'; }
  function fmtNum(v) {
    if (!isNum(v)) return '–';
    var a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 100) return fixed(v, 0);
    if (a >= 10) return fixed(v, 1);
    if (a >= 0.01) return fixed(v, 2);
    return v > 0 ? '< 0.01' : '> −0.01';
  }
  function fmtSeconds(s) {
    if (!isNum(s)) return '–';
    var a = Math.abs(s), sign = s < 0 ? '−' : '';
    if (a === 0) return '0 s';
    if (a < 0.001) return sign + fixed(a * 1000, 2) + ' ms';
    if (a < 0.01) return sign + fixed(a * 1000, 1) + ' ms';
    if (a < 1) return sign + fixed(a * 1000, 0) + ' ms';
    if (a < 3600 && a === Math.floor(a) && a < 60) return sign + fixed(a, 0) + ' s';
    if (a < 60) return sign + fixed(a, 1) + ' s';
    if (a < 3600) return sign + Math.floor(a / 60) + ' min ' + Math.floor(a % 60) + ' s';
    if (a < 86400) return sign + Math.floor(a / 3600) + ' h ' + Math.floor((a % 3600) / 60) + ' min';
    return sign + Math.floor(a / 86400) + ' d ' + Math.floor((a % 86400) / 3600) + ' h';
  }
  function fmtBytes(b) {
    if (!isNum(b)) return '–';
    var a = Math.abs(b);
    if (a < 1024) return fixed(b, 0) + ' B';
    var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = -1;
    do { b /= 1024; a /= 1024; i++; } while (a >= 1024 && i < units.length - 1);
    return fixed(b, a >= 100 ? 0 : a >= 10 ? 1 : 2) + ' ' + units[i];
  }
  // A value with its unit from the snapshot: "/s" (the label says what per second), s, ms, B, B/s, %.
  function fmtValue(v, unit) {
    if (!isNum(v)) return '–';
    switch (unit) {
      case '': case null: case undefined: return v === Math.floor(v) ? fixed(v, 0) : fmtNum(v);
      case '/s': return fmtNum(v);
      case 's': return fmtSeconds(v);
      case 'ms': return fmtSeconds(v / 1000);
      case 'B': return fmtBytes(v);
      case 'B/s': return fmtBytes(v) + '/s';
      case '%': return fixed(v, Math.abs(v) >= 10 ? 0 : 1) + ' %';
      default: return fmtNum(v) + ' ' + unit;
    }
  }
  // [number, unit] for the big rate figures: the unit is drawn smaller
  function splitValue(text) {
    var m = /^(.*\d)\s*([^\d]*)$/.exec(text);
    return m ? [m[1], m[2]] : [text, ''];
  }
  function fmtMoney(v) {
    if (!isNum(v)) return '–';
    return '$' + fixed(v, Math.abs(v) >= 1000 ? 0 : 2);
  }
  function fmtMoneyShort(v) {
    if (!isNum(v)) return '';
    var a = Math.abs(v);
    if (a >= 1e6) return '$' + fixed(v / 1e6, a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return '$' + fixed(v / 1e3, a >= 1e4 ? 0 : 1) + 'k';
    return '$' + fixed(v, 0);
  }
  function fmtCount(v) { return isNum(v) ? fixed(v, 0) : ''; }
  function fmtPct(f) { return isNum(f) ? fixed(f * 100, 1) + ' %' : '–'; }
  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  // local time of day, 24 h: "23:01:05" / "23:01"
  function fmtClock(epoch) {
    if (!isNum(epoch)) return '–';
    var t = new Date(epoch * 1000);
    return pad2(t.getHours()) + ':' + pad2(t.getMinutes()) + ':' + pad2(t.getSeconds());
  }
  function fmtHM(epoch) {
    if (!isNum(epoch)) return '';
    var t = new Date(epoch * 1000);
    return pad2(t.getHours()) + ':' + pad2(t.getMinutes());
  }
  function fmtAge(sec) {
    if (!isNum(sec)) return '';
    if (sec < 1.5) return 'just now';
    if (sec < 90) return Math.round(sec) + ' s ago';
    if (sec < 5400) return Math.round(sec / 60) + ' min ago';
    if (sec < 172800) return Math.round(sec / 3600) + ' h ago';
    return Math.round(sec / 86400) + ' d ago';
  }
  function parseIso(s) {
    if (typeof s !== 'string') return NaN;
    var t = Date.parse(s);
    return isFinite(t) ? t / 1000 : NaN;
  }

  var SOURCE_NAMES = { kafka: 'Kafka', prometheus: 'Prometheus', connect: 'Kafka Connect', flink: 'Flink', generator: 'Generator' };
  var DEFAULT_STAGES = [
    { id: 'generator', name: 'Generator' }, { id: 'postgres', name: 'PostgreSQL' }, { id: 'debezium', name: 'Debezium' },
    { id: 'kafka', name: 'Kafka' }, { id: 'flink', name: 'Flink' }, { id: 'results', name: 'Results' }
  ];
  var STATE_LABEL = { green: 'ok', amber: 'warning', red: 'problem', unknown: 'no data' };
  var STATUSES = ['Processing', 'Shipped', 'Complete', 'Cancelled', 'Returned'];
  var STATUS_COLORS = { Processing: '#e3a21a', Shipped: '#4da3ff', Complete: '#3fb950', Cancelled: '#9aa6b6', Returned: '#ff5a52' };
  var DEPT_COLORS = { Women: '#ff7eb6', Men: '#4da3ff' };
  var PALETTE = ['#f2cc60', '#56d364', '#bc8cff', '#ffa657', '#39c5cf', '#ff5a52'];
  function deptColor(name, i) { return DEPT_COLORS[name] || PALETTE[i % PALETTE.length]; }

  // ------------------------------------------------------------------ charts (uPlot)
  var AXIS = { stroke: '#b7c1ce', grid: { stroke: '#263040', width: 1 }, ticks: { stroke: '#263040', width: 1 }, font: '13px system-ui, sans-serif' };

  function Chart(container) {
    this.container = container;
    this.u = null;
    this.key = null;
    this.box = null;   // the container's size as last reported by the ResizeObserver (no forced layout)
    var self = this;
    if (typeof ResizeObserver === 'function') {
      var pending = false;
      this.ro = new ResizeObserver(function (entries) {
        var r = entries[entries.length - 1].contentRect;
        self.box = { width: r.width, height: r.height };
        if (pending) return;
        pending = true;
        requestAnimationFrame(function () { pending = false; self.fit(); });
      });
      this.ro.observe(container);
    }
  }
  Chart.prototype.size = function () {
    var r = this.box && this.box.width > 0 ? this.box : this.container.getBoundingClientRect();
    return { width: Math.max(120, Math.floor(r.width)), height: Math.max(80, Math.floor(r.height)) };
  };
  Chart.prototype.fit = function () {
    if (!this.u) return;
    var s = this.size();
    if (s.width !== this.u.width || s.height !== this.u.height) this.u.setSize(s);
  };
  // series: [{label, color, fill}], data: [xs, ys...]; recreated only when key (the series set) changes
  Chart.prototype.update = function (key, series, data, yFmt) {
    if (typeof uPlot !== 'function') return;
    if (this.u && this.key === key) {
      // batch: draw now, not in a microtask. render() calls this before it touches the DOM: the browser
      // brings the page's style up to date for every canvas fillText, which is cheap while nothing changed
      this.u.batch(function (u) { u.setData(data); });
      return;
    }
    if (this.u) { this.u.destroy(); this.u = null; }
    var s = this.size();
    var opts = {
      width: s.width,
      height: s.height,
      legend: { show: false },
      cursor: { show: false },
      select: { show: false },
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) { return [0, isNum(max) && max > 0 ? max * 1.1 : 1]; } }
      },
      axes: [
        Object.assign({}, AXIS, { size: 30, space: 60, values: function (u, splits) { return splits.map(fmtHM); } }),
        Object.assign({}, AXIS, { size: 58, values: function (u, splits) { return splits.map(yFmt); } })
      ],
      series: [{}].concat(series.map(function (d) {
        return { label: d.label, stroke: d.color, width: 2.5, fill: d.fill || undefined, points: { show: false }, spanGaps: false };
      }))
    };
    this.u = new uPlot(opts, data, this.container);
    this.key = key;
  };

  // ------------------------------------------------------------------ connection
  var conn = $('connection');
  var connState = 'connecting';
  var lastSnapAt = 0;   // performance.now() of the last snapshot
  var es = null;
  var retryTimer = null;

  function setConn(state, text) {
    connState = state;
    setAttr(conn, 'data-state', state);
    setText(conn, text);
    var down = state === 'disconnected';
    if (document.body.classList.contains('conn-down') !== down) document.body.classList.toggle('conn-down', down);
  }
  function connect() {
    retryTimer = null;
    if (typeof EventSource !== 'function') { setConn('disconnected', 'this browser has no EventSource'); return; }
    es = new EventSource('/events');
    es.addEventListener('open', function () {
      if (connState !== 'open') setConn(lastSnapAt ? 'open' : 'connecting', lastSnapAt ? 'live' : 'connected, waiting for data…');
    });
    es.addEventListener('error', function () {
      setConn('disconnected', 'disconnected, reconnecting…');
      // EventSource retries by itself unless the server answered with an error status (CLOSED): then we do.
      if (es && es.readyState === 2 && !retryTimer) {
        es.close();
        retryTimer = setTimeout(connect, 3000);
      }
    });
    es.addEventListener('snapshot', onSnapshot);
  }
  // header ticker: staleness when the stream is open but silent
  setInterval(function () {
    if (!lastSnapAt) return;
    var silent = (performance.now() - lastSnapAt) / 1000;
    if (connState === 'open' && silent > 5) setConn('stale', 'no snapshot for ' + Math.round(silent) + ' s');
    else if (connState === 'stale') setConn('stale', 'no snapshot for ' + Math.round(silent) + ' s');
  }, 1000);

  var badSnapshots = 0;
  function onSnapshot(ev) {
    var snap;
    try { snap = JSON.parse(ev.data); } catch (e) {
      badSnapshots++;
      setText($('snapshot-time'), 'unreadable snapshot (' + badSnapshots + ')');
      return;
    }
    lastSnapAt = performance.now();
    if (connState !== 'open') setConn('open', 'live');
    var t0 = performance.now();
    render(snap);
    stats.snapshots++;
    // a chart that was just (re)created draws in a microtask: measure after it
    queueMicrotask(function () {
      var dt = Math.round((performance.now() - t0) * 100) / 100;
      stats.lastRenderMs = dt;
      if (dt > stats.maxRenderMs) stats.maxRenderMs = dt;
    });
  }

  // ------------------------------------------------------------------ render
  var S = {};          // the snapshot being rendered
  var now = 0;         // its time (epoch s), for ages
  function section(name, fn, panelEl) {
    try {
      fn();
      if (panelEl && panelEl.classList.contains('render-error')) panelEl.classList.remove('render-error');
    } catch (e) {
      if (panelEl) panelEl.classList.add('render-error');
      console.error('dashboard: rendering ' + name + ' failed:', e);
    }
  }
  function render(snap) {
    S = obj(snap) || {};
    now = isNum(S.time) ? S.time : Date.now() / 1000;
    var A = obj(S.analytics) || {};
    var rev = null, fun = null;
    // the charts first, before the DOM changes: uPlot draws synchronously (batch) on a clean page
    section('charts', function () {
      rev = prepRevenue(obj(A.revenue_per_minute));
      fun = prepFunnel(obj(A.funnel_per_minute));
      if (rev) revenueChart.update(rev.key, rev.defs, rev.data, fmtMoneyShort);
      if (fun) funnelChart.update('funnel', FUNNEL, fun.data, fmtCount);
    });
    section('header', renderHeader);
    section('sources', renderSources);
    section('stages', renderStages);
    section('revenue_per_minute', function () { renderRevenue(obj(A.revenue_per_minute), rev); }, $('panel-revenue_per_minute'));
    section('status_counts', function () { renderStatus(obj(A.status_counts)); }, $('panel-status_counts'));
    section('funnel_per_minute', function () { renderFunnel(obj(A.funnel_per_minute), fun); }, $('panel-funnel_per_minute'));
    section('top_products_last_hour', function () { renderTop(obj(A.top_products_last_hour)); }, $('panel-top_products_last_hour'));
    section('stock_per_dc', function () { renderStock(obj(A.stock_per_dc)); }, $('panel-stock_per_dc'));
    section('verify', renderVerify, $('panel-verify'));
    section('controls', renderControls, $('panel-controls'));
  }

  // ---- header and sources
  function renderHeader() {
    setText($('prefix'), S.prefix || '–');
    setText($('schema'), S.schema || '–');
    var st = $('snapshot-time');
    setAttr(st, 'data-time', raw(S.time));
    setText(st, 'snapshot ' + fmtClock(S.time));
  }
  function sourceDown(name) {
    var k = obj(obj(S.sources) && S.sources[name]);
    return !!(k && k.ok === false);
  }
  function kafkaDown() { return sourceDown('kafka'); }
  function renderSources() {
    var banner = $('source-banner');
    var src = obj(S.sources) || {};
    var bad = [];
    Object.keys(src).forEach(function (name) {
      var s = obj(src[name]);
      if (s && s.ok === false) bad.push({ name: name, error: s.error });
    });
    var rows = syncRows(banner, bad.length, function () {
      var el = make('div', 'src');
      var b = make('b');
      var t = document.createTextNode('');
      el.appendChild(b); el.appendChild(t);
      return { el: el, b: b, t: t };
    });
    bad.forEach(function (x, i) {
      var r = rows[i];
      setAttr(r.el, 'data-testid', 'source-' + x.name);
      setAttr(r.el, 'data-error', x.error);
      setText(r.b, (SOURCE_NAMES[x.name] || (x.name.charAt(0).toUpperCase() + x.name.slice(1))) + ' unreachable:');
      var msg = ' ' + (x.error ? String(x.error) : 'no answer');
      if (r.t.data !== msg) r.t.data = msg;
      setAttr(r.el, 'title', msg.trim());
    });
    setHidden(banner, bad.length === 0);
  }

  // ---- pipeline strip
  var strip = $('strip');
  var stageEls = {};
  var stripKey = null;
  function buildStrip(stages) {
    strip.textContent = '';
    stageEls = {};
    stages.forEach(function (st, i) {
      if (i > 0) { var a = make('div', 'arrow'); a.textContent = '➜'; a.setAttribute('aria-hidden', 'true'); strip.appendChild(a); }
      var id = st.id;
      var root = make('div', 'stage', 'stage-' + id);
      var head = make('div', 'st-head');
      var name = make('span', 'st-name', 'stage-' + id + '-name');
      var state = make('span', 'st-state', 'stage-' + id + '-state');
      head.appendChild(name); head.appendChild(state);
      var detail = make('div', 'st-detail', 'stage-' + id + '-detail');
      var rates = make('div', 'st-rates', 'stage-' + id + '-rates');
      var lags = make('div', 'st-lags', 'stage-' + id + '-lags');
      var alerts = make('div', 'st-alerts', 'stage-' + id + '-alerts');
      root.appendChild(head); root.appendChild(detail); root.appendChild(rates); root.appendChild(lags); root.appendChild(alerts);
      strip.appendChild(root);
      stageEls[id] = { root: root, name: name, state: state, detail: detail, rates: rates, lags: lags, alerts: alerts };
    });
  }
  function valueRow(cls) {
    return function () {
      var el = make('div', cls);
      var v = make('span', 'v'), l = make('span', 'l');
      if (cls === 'rate') {
        var num = make('span', 'vn'), u = make('span', 'vu');
        v.appendChild(num); v.appendChild(u);
        el.appendChild(v); el.appendChild(l);
        return { el: el, v: v, l: l, num: num, u: u };
      }
      el.appendChild(l); el.appendChild(v);
      return { el: el, v: v, l: l };
    };
  }
  function alertRank(a) {
    return (a.state === 'firing' ? 0 : 2) + (a.severity === 'critical' ? 0 : 1);
  }
  function renderStages() {
    var stages = arr(S.stages).filter(function (s) { return obj(s) && s.id != null; });
    if (!stages.length) stages = DEFAULT_STAGES;
    var key = stages.map(function (s) { return String(s.id); }).join('|');
    if (key !== stripKey) { buildStrip(stages); stripKey = key; }
    stages.forEach(function (st) {
      var e = stageEls[st.id];
      if (!e) return;
      var state = st.state === 'green' || st.state === 'amber' || st.state === 'red' ? st.state : 'unknown';
      setAttr(e.root, 'data-state', state);
      setText(e.name, st.name || st.id);
      setText(e.state, STATE_LABEL[state]);
      var detail = st.detail == null ? (st.state == null ? 'no data' : '') : st.detail;
      setText(e.detail, detail);
      setAttr(e.detail, 'title', detail);

      var rates = arr(st.rates).filter(obj).slice(0, 4);
      setAttr(e.rates, 'data-n', rates.length);
      syncRows(e.rates, rates.length, valueRow('rate')).forEach(function (r, i) {
        var x = rates[i];
        setAttr(r.el, 'data-testid', 'stage-' + st.id + '-rate-' + i);
        setAttr(r.el, 'data-value', raw(x.value));
        setAttr(r.el, 'data-unit', x.unit);
        setAttr(r.el, 'data-label', x.label);
        setClass(r.el, isNum(x.value) ? 'rate' : 'rate null');
        var parts = splitValue(fmtValue(x.value, x.unit));
        setText(r.num, parts[0]);
        setText(r.u, parts[1] ? ' ' + parts[1] : '');
        setText(r.l, x.label || x.unit || '');
      });

      var lags = arr(st.lags).filter(obj).slice(0, 3);
      syncRows(e.lags, lags.length, valueRow('lag')).forEach(function (r, i) {
        var x = lags[i];
        setAttr(r.el, 'data-testid', 'stage-' + st.id + '-lag-' + i);
        setAttr(r.el, 'data-value', raw(x.value));
        setAttr(r.el, 'data-unit', x.unit);
        setAttr(r.el, 'data-label', x.label);
        setClass(r.el, isNum(x.value) ? 'lag' : 'lag null');
        setText(r.l, x.label || '');
        setText(r.v, fmtValue(x.value, x.unit));
      });

      // the most severe alert in full (name + summary), the others by name on one line
      var alerts = arr(st.alerts).filter(obj).map(function (a, i) { return { a: a, i: i }; });
      alerts.sort(function (x, y) { return alertRank(x.a) - alertRank(y.a) || x.i - y.i; });
      alerts = alerts.map(function (x) { return x.a; });
      setAttr(e.alerts, 'data-count', alerts.length);
      var shown = Math.min(1, alerts.length);
      var rows = syncRows(e.alerts, shown + (alerts.length > shown ? 1 : 0), function () {
        var el = make('div', 'alert');
        var n = make('div', 'an'), s = make('div', 'as');
        el.appendChild(n); el.appendChild(s);
        return { el: el, n: n, s: s };
      });
      rows.forEach(function (r, i) {
        if (i >= shown) {   // "+N more" line
          setClass(r.el, 'alert-more');
          setAttr(r.el, 'data-testid', 'stage-' + st.id + '-alerts-more');
          setText(r.n, '+' + (alerts.length - shown) + ' more: ' + alerts.slice(shown).map(function (a) { return str(a.name); }).join(', '));
          setText(r.s, '');
          setAttr(r.el, 'title', alerts.slice(shown).map(function (a) { return str(a.name) + ' (' + str(a.state) + '): ' + str(a.summary); }).join('\n'));
          return;
        }
        var a = alerts[i];
        setClass(r.el, 'alert ' + (a.state === 'firing' ? 'firing' : 'pending') + ' ' + str(a.severity));
        setAttr(r.el, 'data-testid', 'stage-' + st.id + '-alert-' + i);
        setAttr(r.el, 'data-name', a.name);
        setAttr(r.el, 'data-state', a.state);
        setAttr(r.el, 'data-severity', a.severity);
        setAttr(r.el, 'title', str(a.name) + ' (' + str(a.state) + ', ' + str(a.severity) + '): ' + str(a.summary) +
          (a.runbook ? '\nrunbook: ' + a.runbook : ''));
        setText(r.n, (a.state === 'pending' ? '(pending) ' : '') + str(a.name));
        setText(r.s, a.summary || '');
      });
    });
  }

  // ---- analytics panels: shared header bits
  function panelState(name, part, empty) {
    var p = $('panel-' + name);
    setAttr(p, 'data-empty', empty ? 'true' : 'false');
    var age = p.querySelector('[data-testid="panel-' + name + '-updated"]');
    var msg = p.querySelector('.empty-msg');
    if (!msg.getAttribute('data-testid')) msg.setAttribute('data-testid', 'panel-' + name + '-empty');
    var updated = part && part.updated;
    setAttr(age, 'data-updated', raw(updated));
    var t;
    if (!part) t = 'no data';
    else if (!isNum(updated)) t = 'no messages';
    else t = fmtAge(now - updated);
    var bad = part && isNum(part.malformed) && part.malformed > 0;
    if (bad) t = '⚠ ' + fmtInt(part.malformed) + ' · ' + t;
    setText(age, t);
    setClass(age, bad || (isNum(updated) && now - updated > 300) ? 'age old' : 'age');
    setAttr(age, 'data-malformed', part ? raw(part.malformed) : '');
    setAttr(age, 'title', (isNum(updated) ? 'newest result message: ' + fmtClock(updated) + ', ' + fmtAge(now - updated) : 'no result message read yet') +
      (part ? '\nlive keys: ' + (isNum(part.keys) ? part.keys : '–') + (isNum(part.malformed) ? ', malformed messages skipped: ' + part.malformed : '') : ''));
    if (empty) setText(msg, kafkaDown() ? 'no data yet (Kafka unreachable)' : 'no data yet');
  }
  function xsOf(minutes) {
    var xs = minutes.map(parseIso);
    var ok = xs.every(isFinite);
    for (var i = 1; ok && i < xs.length; i++) if (xs[i] <= xs[i - 1]) ok = false;
    if (!ok) { var base = Math.floor(now / 60) * 60 - 60 * (minutes.length - 1); xs = minutes.map(function (_, i) { return base + 60 * i; }); }
    return xs;
  }
  function aligned(values, n) {
    var v = arr(values), out = new Array(n);
    for (var i = 0; i < n; i++) out[i] = isNum(v[i]) ? v[i] : null;
    return out;
  }
  function sum(a) { var s = 0; for (var i = 0; i < a.length; i++) if (isNum(a[i])) s += a[i]; return s; }

  // legend items: [{key, label, color, value(text), raw}]
  function renderLegend(container, items, prefix) {
    var rows = syncRows(container, items.length, function () {
      var el = make('span', 'li');
      var sw = make('span', 'sw'), l = document.createTextNode(''), b = make('b');
      el.appendChild(sw); el.appendChild(l); el.appendChild(b);
      return { el: el, sw: sw, l: l, b: b };
    });
    items.forEach(function (it, i) {
      var r = rows[i];
      setAttr(r.el, 'data-testid', prefix + it.key);
      setAttr(r.el, 'data-value', raw(it.raw));
      setClass(r.el, it.big ? 'li big' : 'li');
      setStyle(r.sw, 'background', it.color || 'transparent');
      setStyle(r.sw, 'display', it.color ? '' : 'none');
      if (r.l.data !== it.label) r.l.data = it.label;
      setText(r.b, it.value);
    });
  }

  // ---- revenue per minute
  var revenueChart = new Chart($('revenue-chart'));
  function revenueDefs(names) {
    return names.map(function (name, i) { var c = deptColor(name, i); return { label: name, color: c, fill: c + '22' }; });
  }
  // the chart data of a snapshot's revenue_per_minute, or null when there is none
  function prepRevenue(p) {
    var minutes = arr(p && p.minutes);
    var series = arr(p && p.series).filter(function (s) { return obj(s) && s.department != null; });
    if (!p || !minutes.length || !series.length) return null;
    var n = minutes.length;
    var data = [xsOf(minutes)];
    series.forEach(function (s) { data.push(aligned(s.revenue, n)); });
    var defs = revenueDefs(series.map(function (s) { return String(s.department); }));
    return { series: series, data: data, defs: defs, key: defs.map(function (d) { return d.label; }).join('|') };
  }
  function renderRevenue(p, prep) {
    panelState('revenue_per_minute', p, !prep);
    var cats = arr(p && p.categories).filter(obj).slice(0, 10);
    renderCategories(cats);
    if (!prep) return;
    var legend = [];
    var total = 0;
    prep.series.forEach(function (s, i) {
      var t = sum(prep.data[i + 1]);
      total += t;
      legend.push({ key: String(s.department), label: String(s.department), color: prep.defs[i].color, value: fmtMoney(t), raw: t });
    });
    legend.unshift({ key: 'total', label: '30 min', value: fmtMoney(total), raw: total, big: true });
    renderLegend($('revenue-legend'), legend, 'revenue-');
  }
  function renderCategories(cats) {
    var list = $('cats-list');
    syncRows(list, cats.length, function () {
      var el = make('li');
      var d = make('span', 'cd'), n = make('span', 'cn'), v = make('span', 'cv');
      el.appendChild(d); el.appendChild(n); el.appendChild(v);
      return { el: el, d: d, n: n, v: v };
    }).forEach(function (r, i) {
      var c = cats[i];
      var dept = str(c.department);
      setAttr(r.el, 'data-testid', 'category-' + (i + 1));
      setAttr(r.el, 'data-department', dept);
      setAttr(r.el, 'data-category', c.category);
      setAttr(r.el, 'data-revenue', raw(c.revenue));
      setAttr(r.el, 'data-items', raw(c.items));
      setAttr(r.el, 'title', dept + ' / ' + str(c.category) + ': ' + fmtMoney(c.revenue) + ', ' + fmtInt(c.items) + ' items, ' + fmtInt(c.orders) + ' orders');
      setText(r.d, dept ? dept.charAt(0) : '?');
      setStyle(r.d, 'background', deptColor(dept, 0));
      setText(r.n, c.category || '–');
      setText(r.v, fmtMoney(c.revenue));
    });
  }

  // ---- status counts
  function renderStatus(p) {
    var orders = obj(p && p.orders) || {}, itemsC = obj(p && p.order_items) || {};
    var names = STATUSES.slice();
    Object.keys(orders).concat(Object.keys(itemsC)).forEach(function (k) { if (names.indexOf(k) < 0) names.push(k); });
    var empty = !p || (Object.keys(orders).length === 0 && Object.keys(itemsC).length === 0);
    panelState('status_counts', p, empty);
    var body = $('status-body');
    var rows = syncRows(body, names.length + 1, function () {
      var tr = make('tr');
      var a = make('td'), b = make('td', 'r'), c = make('td', 'r');
      var dot = make('span', 'sdot'), label = document.createTextNode('');
      a.appendChild(dot); a.appendChild(label);
      tr.appendChild(a); tr.appendChild(b); tr.appendChild(c);
      return { el: tr, dot: dot, label: label, o: b, i: c };
    });
    var to = 0, ti = 0;
    names.forEach(function (st, k) {
      var r = rows[k];
      var ov = orders[st], iv = itemsC[st];
      if (isNum(ov)) to += ov;
      if (isNum(iv)) ti += iv;
      setClass(r.el, '');
      if (r.label.data !== st) r.label.data = st;
      setStyle(r.dot, 'background', STATUS_COLORS[st] || '#7d8794');
      cell(r.o, 'status-orders-' + st, ov, !p);
      cell(r.i, 'status-order_items-' + st, iv, !p);
    });
    var tr = rows[names.length];
    setClass(tr.el, 'total');
    if (tr.label.data !== 'total') tr.label.data = 'total';
    setStyle(tr.dot, 'background', 'transparent');
    cell(tr.o, 'status-orders-total', to, false);
    cell(tr.i, 'status-order_items-total', ti, false);
  }
  function cell(td, testid, v, unknown) {
    setAttr(td, 'data-testid', testid);
    setAttr(td, 'data-value', isNum(v) ? v : (unknown ? '' : 0));
    setText(td, isNum(v) ? fmtInt(v) : (unknown ? '–' : '0'));
  }

  // ---- funnel per minute
  var funnelChart = new Chart($('funnel-chart'));
  var FUNNEL = [
    { key: 'sessions', label: 'sessions', color: '#4da3ff' },
    { key: 'carts', label: 'carts', color: '#e3a21a' },
    { key: 'purchases', label: 'purchases', color: '#3fb950' }
  ];
  function prepFunnel(p) {
    var minutes = arr(p && p.minutes);
    if (!p || !minutes.length) return null;
    var n = minutes.length;
    var data = [xsOf(minutes)];
    FUNNEL.forEach(function (f) { data.push(aligned(p[f.key], n)); });
    return { data: data };
  }
  function renderFunnel(p, prep) {
    panelState('funnel_per_minute', p, !prep);
    if (!prep) return;
    var n = prep.data[0].length;
    var legend = [];
    var sums = {};
    FUNNEL.forEach(function (f, i) {
      var ys = prep.data[i + 1];
      sums[f.key] = sum(ys);
      legend.push({ key: f.key, label: f.label, color: f.color, value: fmtInt(sums[f.key]), raw: sums[f.key] });
    });
    var conv = sums.sessions > 0 ? sums.purchases / sums.sessions : null;
    var rates = arr(p.conversion_rate);
    var prev = n >= 2 ? rates[n - 2] : null;
    legend.unshift({ key: 'conversion', label: 'conversion, 30 min', value: fmtPct(conv), raw: conv, big: true });
    renderLegend($('funnel-legend'), legend, 'funnel-');
    var convEl = $('funnel-legend').firstChild;
    setAttr(convEl, 'title', 'purchases / sessions over the 30 minutes; previous minute: ' + fmtPct(isNum(prev) ? prev : null) +
      '; abandoned carts ' + fmtInt(sum(aligned(p.abandoned_carts, n))) + ', ghost sessions ' + fmtInt(sum(aligned(p.ghost_sessions, n))));
  }

  // ---- top 10 products
  function renderTop(p) {
    var rows = arr(p && p.rows).filter(obj).slice(0, 10);
    panelState('top_products_last_hour', p, !p || !rows.length);
    var w = $('top-window');
    setAttr(w, 'data-start', p && p.window_start_iso);
    setAttr(w, 'data-end', p && p.window_end_iso);
    var ws = parseIso(p && p.window_start_iso), we = parseIso(p && p.window_end_iso);
    setText(w, isFinite(ws) && isFinite(we) ? fmtHM(ws) + '–' + fmtHM(we) : '');
    setAttr(w, 'title', 'order time window ' + str(p && p.window_start_iso) + ' to ' + str(p && p.window_end_iso));
    var body = $('top-body');
    syncRows(body, rows.length, function () {
      var tr = make('tr');
      var a = make('td', 'n'), b = make('td'), c = make('td', 'r rev'), d = make('td', 'r');
      var name = document.createTextNode(''), cat = make('span', 'pc');
      b.appendChild(name); b.appendChild(cat);
      tr.appendChild(a); tr.appendChild(b); tr.appendChild(c); tr.appendChild(d);
      return { el: tr, rank: a, name: name, cat: cat, rev: c, items: d };
    }).forEach(function (r, i) {
      var x = rows[i];
      var rank = isNum(x.rank) ? x.rank : i + 1;
      setAttr(r.el, 'data-testid', 'top-' + rank);
      setAttr(r.el, 'data-rank', rank);
      setAttr(r.el, 'data-product-id', x.product_id);
      setAttr(r.el, 'data-revenue', raw(x.revenue));
      setAttr(r.el, 'data-items', raw(x.items));
      setClass(r.el, rank === 1 ? 'first' : '');
      setAttr(r.el, 'title', str(x.product_name) + '\n' + str(x.brand) + ' · ' + str(x.department) + ' / ' + str(x.category) + ' · product ' + str(x.product_id));
      setText(r.rank, rank);
      var nm = x.product_name || ('product ' + str(x.product_id));
      if (r.name.data !== nm) r.name.data = nm;
      setText(r.cat, x.category ? ' · ' + x.category : '');
      setText(r.rev, fmtMoney(x.revenue));
      setText(r.items, fmtInt(x.items));
    });
  }

  // ---- stock per distribution centre
  function renderStock(p) {
    var rows = arr(p && p.rows).filter(obj);
    panelState('stock_per_dc', p, !p || !rows.length);
    var max = 0;
    rows.forEach(function (x) {
      var t = (isNum(x.in_stock) ? x.in_stock : 0) + (isNum(x.sold) ? x.sold : 0) + (isNum(x.written_off) ? x.written_off : 0);
      if (t > max) max = t;
    });
    syncRows($('stock-list'), rows.length, function () {
      var el = make('div', 'srow');
      var n = make('div', 'sn'), bar = make('div', 'sbar'), v = make('div', 'sv');
      bar.setAttribute('aria-hidden', 'true');
      var a = make('div', 'seg s-in'), b = make('div', 'seg s-sold'), c = make('div', 'seg s-off');
      bar.appendChild(a); bar.appendChild(b); bar.appendChild(c);
      var vi = make('b'), vs = make('span'), vo = make('span');
      v.appendChild(vi); v.appendChild(document.createTextNode(' ')); v.appendChild(vs); v.appendChild(document.createTextNode(' ')); v.appendChild(vo);
      el.appendChild(n); el.appendChild(bar); el.appendChild(v);
      return { el: el, n: n, a: a, b: b, c: c, vi: vi, vs: vs, vo: vo };
    }).forEach(function (r, i) {
      var x = rows[i];
      var name = x.dc_name != null ? String(x.dc_name) : 'DC ' + str(x.dc_id);
      setAttr(r.el, 'data-testid', 'stock-' + str(x.dc_id));
      setAttr(r.el, 'data-name', name);
      setAttr(r.el, 'data-in-stock', raw(x.in_stock));
      setAttr(r.el, 'data-sold', raw(x.sold));
      setAttr(r.el, 'data-written-off', raw(x.written_off));
      setAttr(r.el, 'title', name + ': ' + fmtInt(x.in_stock) + ' in stock, ' + fmtInt(x.sold) + ' sold, ' + fmtInt(x.written_off) + ' written off');
      setText(r.n, name);
      function pct(v) { return (max > 0 && isNum(v) ? (100 * v / max) : 0).toFixed(2) + '%'; }
      setStyle(r.a, 'width', pct(x.in_stock));
      setStyle(r.b, 'width', pct(x.sold));
      setStyle(r.c, 'width', pct(x.written_off));
      setClass(r.c, isNum(x.written_off) && x.written_off > 0 ? 'seg s-off some' : 'seg s-off');
      setText(r.vi, fmtInt(x.in_stock));
      setText(r.vs, '/ ' + fmtInt(x.sold));
      setText(r.vo, '/ ' + fmtInt(x.written_off));
      setClass(r.vs, 'x');
      setClass(r.vo, isNum(x.written_off) && x.written_off > 0 ? 'x off' : 'x');
    });
  }

  // ---- verify
  var verifyBusy = false;   // our own POST in flight
  var verifyErrRun = null;  // the run number when the server refused our POST (the message goes with the next run)
  function renderVerify() {
    var v = obj(S.verify);
    var state = v && typeof v.state === 'string' ? v.state : (v ? 'idle' : 'unknown');
    var running = state === 'running';
    var vs = $('verify-state');
    setAttr(vs, 'data-state', state);
    setAttr(vs, 'data-run', v && isNum(v.run) ? v.run : '');
    setText(vs, state === 'unknown' ? 'no data' : state + (v && isNum(v.run) && v.run > 0 ? ' · run ' + v.run : ''));
    var verr = $('verify-error');
    if (!verr.hidden && verifyErrRun !== null && v && v.run !== verifyErrRun && !running) { setHidden(verr, true); verifyErrRun = null; }
    var btn = $('verify-button');
    var dis = running || verifyBusy || !v;
    if (btn.disabled !== dis) btn.disabled = dis;
    setText(btn, running ? 'Verifying…' : 'Verify now');

    var hasResult = !!(v && !running && (v.verdict != null || state === 'done'));
    setHidden($('verify-running'), !running);
    setHidden($('verify-result'), !hasResult);
    setHidden($('verify-verdict'), !hasResult);
    setHidden($('verify-runlabel'), !running);
    var idle = $('verify-idle');
    setHidden(idle, running || hasResult);
    if (idle.__html == null) idle.__html = idle.innerHTML;
    var idleHtml = v ? idle.__html : 'No verify data in the snapshot.';
    if (idle.__shown !== idleHtml) { idle.innerHTML = idleHtml; idle.__shown = idleHtml; }

    var timeEl = $('verify-time');
    if (running) {
      var el = isNum(v.elapsed) ? v.elapsed : (isNum(v.started) ? now - v.started : null);
      var to = isNum(v.timeout) ? v.timeout : null;
      var ve = $('verify-elapsed');
      if (!ve.__built) { ve.textContent = ''; ve.__b = make('b'); ve.__t = document.createTextNode(''); ve.appendChild(ve.__b); ve.appendChild(ve.__t); ve.__built = true; }
      setText(ve.__b, isNum(el) ? fmtSeconds(el < 60 ? Math.floor(el) : el) : '–');
      var tt = (to ? ' elapsed of ' + fmtSeconds(to) + ' timeout' : ' elapsed') + (isNum(v.started) ? ' · started ' + fmtClock(v.started) : '');
      if (ve.__t.data !== tt) ve.__t.data = tt;
      setAttr(ve, 'data-elapsed', raw(el));
      setAttr(ve, 'data-timeout', raw(to));
      setStyle($('verify-pbar'), 'width', (to && isNum(el) ? Math.min(100, 100 * el / to) : 0).toFixed(1) + '%');
      var lines = arr(v.progress).map(str);
      if (!lines.length) lines = ['starting…'];
      syncRows($('verify-progress'), lines.length, function () { return { el: make('div', 'pl') }; }).forEach(function (r, i) {
        setText(r.el, lines[i]);
        setAttr(r.el, 'title', lines[i]);
      });
      setText(timeEl, '');
      setAttr(timeEl, 'data-finished', '');
    }
    if (hasResult) {
      var verdict = v.verdict == null ? 'UNKNOWN' : String(v.verdict);
      var ok = verdict === 'OK';
      var vd = $('verify-verdict');
      setAttr(vd, 'data-verdict', v.verdict);
      setClass(vd, ok ? 'verdict ok' : 'verdict bad');
      setText(vd, verdict);
      var vm = $('verify-message');
      setText(vm, v.message || '');
      setClass(vm, ok ? 'vmsg' : 'vmsg bad');
      setAttr(vm, 'title', v.message || '');
      var fin = isNum(v.finished) ? v.finished : null;
      setAttr(timeEl, 'data-finished', raw(fin));
      setText(timeEl, fin ? 'last result ' + fmtClock(fin) + ' (' + fmtAge(now - fin) + ')' + (isNum(v.elapsed) ? ', took ' + fmtSeconds(v.elapsed) : '') : '');
      renderVerifyTables(arr(v.tables).filter(obj));
    }
    if (!running && !hasResult) { setText(timeEl, ''); setAttr(timeEl, 'data-finished', ''); }
  }
  var VCOLS = [['events', 'events'], ['rows_postgres', 'rows-postgres'], ['matched', 'matched'],
    ['missing', 'missing'], ['extra', 'extra'], ['different', 'different']];
  function renderVerifyTables(tables) {
    syncRows($('verify-tbody'), tables.length, function () {
      var tr = make('tr');
      var cells = [make('td')];
      VCOLS.forEach(function () { cells.push(make('td', 'r')); });
      cells.forEach(function (c) { tr.appendChild(c); });
      return { el: tr, cells: cells };
    }).forEach(function (r, i) {
      var t = tables[i];
      setAttr(r.el, 'data-testid', 'verify-table-' + str(t.table));
      setText(r.cells[0], t.table);
      setAttr(r.cells[0], 'title', str(t.table));
      VCOLS.forEach(function (c, k) {
        var val = t[c[0]];
        var td = r.cells[k + 1];
        setAttr(r.el, 'data-' + c[1], raw(val));
        setText(td, fmtInt(val));
        var bad = k >= 3 && isNum(val) && val > 0;
        setClass(td, bad ? 'r bad' : (k >= 3 && val === 0 ? 'r zero' : 'r'));
      });
    });
  }
  $('verify-button').addEventListener('click', function () {
    var btn = this;
    var err = $('verify-error');
    verifyBusy = true;
    btn.disabled = true;
    setHidden(err, true);
    post('/api/verify', null).then(function (res) {
      verifyBusy = false;
      if (!res.ok) {
        setText(err, res.message + ' · ' + fmtClock(Date.now() / 1000));
        setAttr(err, 'title', res.message);
        setAttr(err, 'data-status', res.status);
        setHidden(err, false);
        var v = obj(S.verify);
        verifyErrRun = v && isNum(v.run) ? v.run : null;
      }
      section('verify', renderVerify, $('panel-verify'));
    });
  });

  // ---- controls
  var panelControls = $('panel-controls');
  var actionButtons = Array.prototype.slice.call(panelControls.querySelectorAll('button[data-action]'));
  var rateInput = $('rate-input');
  var rateEdited = false;
  var postBusy = false;
  var response = null;      // {action, time (server clock)} of the refusal shown in control-response
  rateInput.addEventListener('input', function () { rateEdited = true; });
  rateInput.addEventListener('keydown', function (e) { if (e.key === 'Enter') $('rate-set').click(); });

  function renderControls() {
    var c = obj(S.controls);
    var enabled = !!(c && c.enabled === true);
    setHidden(panelControls, !enabled);
    if (document.body.classList.contains('no-controls') === enabled) document.body.classList.toggle('no-controls', !enabled);
    if (!enabled) return;
    var avail = arr(c.available).map(str);
    var busy = c.busy ? String(c.busy) : null;
    actionButtons.forEach(function (b) {
      var a = b.getAttribute('data-action');
      setHidden(b, avail.indexOf(a) < 0);
      var dis = !!busy || postBusy;
      if (b.disabled !== dis) b.disabled = dis;
    });
    setHidden(rateInput, avail.indexOf('generator.rate') < 0);
    ['generator', 'connector', 'flink', 'stack'].forEach(function (g) {
      var row = $('crow-' + g);
      var any = avail.some(function (a) { return a.indexOf(g + '.') === 0; });
      setHidden(row, !any);
    });
    var be = $('control-busy');
    setHidden(be, !busy);
    setAttr(be, 'data-action', busy);
    setText(be, busy ? 'busy: ' + busy + '…' : '');

    // generator
    var gen = obj(S.generator);
    var rate = gen && isNum(gen.visits_per_second) ? gen.visits_per_second : null;
    var gr = $('gen-rate');
    setAttr(gr, 'data-value', raw(rate));
    setText(gr, rate != null ? fmtNum(rate) + ' visits/s' : 'not reachable');
    setClass(gr, rate != null ? '' : 'warn');
    if (rate != null && !rateEdited && document.activeElement !== rateInput) {
      var rv = String(Math.round(rate * 100) / 100);
      if (rateInput.value !== rv) rateInput.value = rv;
    }
    actionButtons.forEach(function (b) {
      var r = b.getAttribute('data-rate');
      if (r != null) setClass(b, rate != null && Number(r) === rate ? 'btn q on' : 'btn q');
    });

    // connector
    var cn = obj(S.connector);
    var cs = $('conn-state');
    if (cn && !sourceDown('connect')) {
      var tasks = arr(cn.tasks).filter(obj);
      var tstates = tasks.map(function (t) { return str(t.state); });
      var text = str(cn.state || '?') + (tasks.length ? ', task ' + tstates.join('/') : ', no task');
      setText(cs, text);
      setAttr(cs, 'data-state', cn.state);
      var good = cn.state === 'RUNNING' && tstates.every(function (s) { return s === 'RUNNING'; }) && tasks.length > 0;
      setClass(cs, good ? '' : (cn.state === 'PAUSED' ? 'warn' : 'bad'));
      var trace = tasks.map(function (t) { return t.trace; }).filter(Boolean)[0];
      setAttr(cs, 'title', str(cn.name) + (trace ? '\n' + String(trace).slice(0, 500) : ''));
    } else {
      setText(cs, 'not reachable');
      setAttr(cs, 'data-state', '');
      setClass(cs, 'warn');
    }

    // flink
    var fl = obj(S.flink);
    var fs = $('flink-state');
    if (fl && !sourceDown('flink')) {
      var jobs = arr(fl.jobs).filter(obj);
      var running = jobs.filter(function (j) { return j.state === 'RUNNING'; }).length;
      setAttr(fs, 'data-running', running);
      setAttr(fs, 'data-total', jobs.length);
      setText(fs, jobs.length ? running + ' of ' + jobs.length + ' jobs running' : 'no jobs');
      setClass(fs, jobs.length && running === jobs.length ? '' : (running ? 'warn' : 'bad'));
      setAttr(fs, 'title', jobs.map(function (j) { return str(j.name) + ': ' + str(j.state) + (isNum(j.restarts) && j.restarts ? ' (' + j.restarts + ' restarts)' : ''); }).join('\n'));
    } else {
      setText(fs, 'not reachable');
      setAttr(fs, 'data-running', '');
      setAttr(fs, 'data-total', '');
      setClass(fs, 'warn');
    }

    // last result
    var last = obj(c.last);
    var le = $('control-last');
    // a refusal the server also reports as controls.last is shown once, there
    if (response && last && last.action === response.action && last.ok === false && isNum(last.time) && last.time >= response.time - 2) {
      setHidden($('control-response'), true);
      response = null;
    }
    if (last) {
      var okL = last.ok === true;
      setAttr(le, 'data-ok', okL ? 'true' : 'false');
      setAttr(le, 'data-action', last.action);
      setClass(le, okL ? 'last ok' : 'last err');
      var msgL = str(last.message || last.error || (okL ? 'ok' : 'failed'));
      setText(le, 'last: ' + str(last.action) + (okL ? ' ✔ ' : ' ✘ ') + msgL + (isNum(last.time) ? ' · ' + fmtClock(last.time) : ''));
      setAttr(le, 'title', msgL);
    } else {
      setAttr(le, 'data-ok', '');
      setAttr(le, 'data-action', '');
      setClass(le, 'last');
      setText(le, '');
    }
  }

  function actionPath(action) {
    var i = action.indexOf('.');
    return '/api/controls/' + action.slice(0, i) + '/' + action.slice(i + 1);
  }
  function showResponse(action, res) {
    var el = $('control-response');
    setAttr(el, 'data-ok', res.ok ? 'true' : 'false');
    setAttr(el, 'data-status', res.status);
    setAttr(el, 'data-action', action);
    setClass(el, res.ok ? 'err-line ok' : 'err-line');
    setText(el, action + ': ' + res.message + ' · ' + fmtClock(Date.now() / 1000));
    setAttr(el, 'title', res.message);
    // a refusal stays until the next action (or until controls.last reports it); an accepted action
    // shows up in controls.last
    setHidden(el, res.ok);
    response = res.ok ? null : { action: action, time: now };
  }
  panelControls.addEventListener('click', function (e) {
    var b = e.target && e.target.closest ? e.target.closest('button[data-action]') : null;
    if (!b || b.disabled) return;
    var action = b.getAttribute('data-action');
    var body = null;
    if (action === 'generator.rate') {
      var r = b.getAttribute('data-rate');
      var val = r != null ? Number(r) : Number(String(rateInput.value).trim());
      if (r == null && (String(rateInput.value).trim() === '' || !isFinite(val) || val < 0)) {
        showResponse(action, { ok: false, status: 0, message: 'enter a number of visits per second (0 or more)' });
        return;
      }
      if (r != null) { rateInput.value = r; }
      rateEdited = false;
      body = { visits_per_second: val };
    }
    postBusy = true;
    actionButtons.forEach(function (x) { x.disabled = true; });
    post(actionPath(action), body).then(function (res) {
      postBusy = false;
      showResponse(action, res);
      section('controls', renderControls, panelControls);
    });
  });

  // POST with the token; resolves {ok, status, message}, never rejects and never alerts.
  function post(path, body) {
    var headers = { 'Accept': 'application/json' };
    if (body != null) headers['Content-Type'] = 'application/json';
    if (TOKEN) headers['X-Dashboard-Token'] = TOKEN;
    return fetch(path, { method: 'POST', headers: headers, body: body != null ? JSON.stringify(body) : undefined, cache: 'no-store' })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          data = obj(data);
          var ok = resp.ok && !(data && data.ok === false);
          var msg = data ? str(ok ? (data.message || 'ok') : (data.error || data.message || '')) : text.trim().slice(0, 200);
          if (!ok) msg = 'HTTP ' + resp.status + (msg ? ': ' + msg : ' ' + resp.statusText);
          return { ok: ok, status: resp.status, message: msg || 'ok' };
        });
      }, function (err) {
        return { ok: false, status: 0, message: 'request failed: ' + (err && err.message ? err.message : String(err)) };
      });
  }

  // panels with less height than planned (a tall strip) get .tight / .tighter (smaller rows, see app.css)
  if (typeof ResizeObserver === 'function') {
    var tightRo = new ResizeObserver(function (entries) {
      entries.forEach(function (en) {
        var h = en.contentRect.height;
        var el = en.target;
        if (el.classList.contains('tight') !== (h < 300)) el.classList.toggle('tight', h < 300);
        if (el.classList.contains('tighter') !== (h < 262)) el.classList.toggle('tighter', h < 262);
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll('.panel'), function (p) { tightRo.observe(p); });
  }

  // first paint before any data: the strip and empty panels; the charts are built now, during page load,
  // so that a snapshot only calls setData (theLook has two departments: Women and Men)
  render({});
  try {
    revenueChart.update('Women|Men', revenueDefs(['Women', 'Men']), [[], [], []], fmtMoneyShort);
    funnelChart.update('funnel', FUNNEL, [[], [], [], []], fmtCount);
  } catch (e) { console.error('dashboard: building the charts failed:', e); }
  setConn('connecting', 'connecting…');
  connect();
})();
