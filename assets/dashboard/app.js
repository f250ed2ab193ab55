// Switchboard router dashboard: polls dashboard/data once a second and redraws. Plain DOM, no
// framework, nothing loaded from elsewhere. Every value from the router goes in through
// textContent (service and model names come from the registry and are not trusted as HTML).
'use strict';

(function () {
  var POLL_MS = 1000;
  var TIMEOUT_MS = 3000;
  var TOKEN_KEY = 'switchboard.dashboard.token';

  var $ = function (id) { return document.getElementById(id); };
  var cards = new Map(); // model -> {root, fields, canvas}

  // ?token=... is taken once, kept for this tab only, and removed from the address bar.
  (function takeToken() {
    var params = new URLSearchParams(location.search);
    var t = params.get('token');
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      params.delete('token');
      var q = params.toString();
      history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
    }
  })();

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtRate(x) {
    if (x === null || x === undefined) return '–';
    return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  }
  function fmtPct(x) {
    return x === null || x === undefined ? '–' : (x * 100).toFixed(x < 0.1 ? 1 : 0) + ' %';
  }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms >= 10000) return (ms / 1000).toFixed(1) + ' s';
    if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
    return ms >= 10 ? ms.toFixed(0) + ' ms' : ms.toFixed(1) + ' ms';
  }
  function fmtPair(p) {
    return p ? fmtMs(p.p50) + ' / ' + fmtMs(p.p95) : '–';
  }
  function fmtLoad(load) {
    if (!load) return '–';
    var parts = [];
    if (load.running !== undefined) parts.push('run ' + load.running);
    if (load.waiting !== undefined) parts.push('wait ' + load.waiting);
    if (load.kv_cache_usage !== undefined) parts.push('kv ' + Math.round(load.kv_cache_usage * 100) + '%');
    return parts.length ? parts.join(' · ') : '–';
  }
  function fmtTime(ms) {
    var d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false });
  }

  function renderReadiness(r) {
    var box = $('readiness');
    box.dataset.status = r.status;
    $('readiness-status').textContent = 'Readiness: ' + r.status;
    var ul = $('readiness-reasons');
    ul.replaceChildren.apply(ul, r.reasons.map(function (x) { return el('li', '', x); }));
  }

  function renderServices(services) {
    var body = $('services').tBodies[0];
    var rows = services.map(function (s) {
      var tr = el('tr');
      tr.dataset.service = s.name;
      tr.dataset.state = s.state;
      tr.append(el('td', 'name', s.name));
      var st = el('td');
      st.append(el('span', 'state state-' + s.state, s.state));
      tr.append(st);
      tr.append(el('td', '', s.models.join(', ') || '–'));
      tr.append(el('td', 'num', s.in_flight));
      tr.append(el('td', '', fmtLoad(s.load)));
      tr.append(el('td', 'num', s.request_count));
      tr.append(el('td', 'num', s.error_count));
      tr.append(el('td', 'num', s.request_count > 0 ? fmtMs(s.response_time_ms) : '–'));
      tr.append(el('td', 'num', s.ejections));
      tr.append(el('td', 'url', s.url));
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    $('no-services').hidden = services.length > 0;
  }

  var FIELDS = [
    ['rps', 'Requests/s'],
    ['error_rate', 'Error rate (5xx)'],
    ['latency', 'Latency p50 / p95'],
    ['ttft', 'TTFT p50 / p95'],
    ['tokens', 'Output tokens/s'],
    ['total', 'Requests (total)'],
  ];

  function card(model) {
    var c = cards.get(model);
    if (c) return c;
    var root = el('article', 'card');
    root.dataset.model = model;
    root.append(el('h3', '', model));
    var dl = el('dl');
    var fields = {};
    FIELDS.forEach(function (f) {
      dl.append(el('dt', '', f[1]));
      var dd = el('dd');
      dd.dataset.field = f[0];
      fields[f[0]] = dd;
      dl.append(dd);
    });
    root.append(dl);
    var canvas = el('canvas');
    root.append(canvas);
    var caption = el('div', 'caption');
    root.append(caption);
    c = { root: root, fields: fields, canvas: canvas, caption: caption };
    cards.set(model, c);
    return c;
  }

  function sparkline(canvas, series) {
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 260;
    var h = canvas.clientHeight || 40;
    if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
    if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var max = 1;
    for (var i = 0; i < series.length; i++) if (series[i] > max) max = series[i];
    var n = series.length;
    if (n < 2) return;
    var style = getComputedStyle(document.documentElement);
    ctx.beginPath();
    for (var k = 0; k < n; k++) {
      var x = (k / (n - 1)) * (w - 2) + 1;
      var y = h - 2 - (series[k] / max) * (h - 4);
      if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = style.getPropertyValue('--info').trim() || '#2b6cb0';
    ctx.stroke();
    ctx.lineTo(w - 1, h);
    ctx.lineTo(1, h);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fill();
    ctx.globalAlpha = 1;
  }

  function renderModels(models, windows) {
    $('windows').textContent = '(rates over ' + windows.rate_s + ' s, percentiles over ' + windows.percentile_s + ' s)';
    var box = $('models');
    var seen = new Set();
    var order = models.map(function (m) {
      seen.add(m.model);
      var c = card(m.model);
      c.fields.rps.textContent = fmtRate(m.rps);
      c.fields.error_rate.textContent = fmtPct(m.error_rate);
      c.fields.error_rate.classList.toggle('bad', m.error_rate !== null && m.error_rate > 0);
      c.fields.latency.textContent = fmtPair(m.latency_ms);
      c.fields.ttft.textContent = fmtPair(m.ttft_ms);
      c.fields.tokens.textContent = fmtRate(m.tokens_per_s);
      c.fields.total.textContent = m.totals.requests + (m.totals.errors ? ' (' + m.totals.errors + ' errors)' : '');
      var peak = Math.max.apply(null, m.rps_series.concat([0]));
      c.caption.textContent = 'requests/s, last ' + Math.round(m.rps_series.length / 60) + ' min (peak ' + peak + ')';
      return c;
    });
    cards.forEach(function (c, model) { if (!seen.has(model)) cards.delete(model); });
    box.replaceChildren.apply(box, order.map(function (c) { return c.root; }));
    models.forEach(function (m) { sparkline(cards.get(m.model).canvas, m.rps_series); });
  }

  function renderEvents(events) {
    var ol = $('events');
    var items = events.map(function (e) {
      var li = el('li');
      li.dataset.type = e.type;
      li.dataset.backend = e.backend;
      var t = el('time', '', fmtTime(e.ts));
      t.dateTime = new Date(e.ts).toISOString();
      li.append(t, el('span', 'type', e.type.replace('_', ' ')), el('span', 'backend', e.backend));
      if (e.model) li.append(document.createTextNode(' · ' + e.model));
      if (e.detail) li.append(el('div', 'muted', e.detail));
      return li;
    });
    ol.replaceChildren.apply(ol, items);
    $('no-events').hidden = events.length > 0;
  }

  function render(d) {
    renderReadiness(d.readiness);
    renderServices(d.services);
    renderModels(d.models, d.windows);
    renderEvents(d.events);
    $('updated').textContent = 'updated ' + fmtTime(Date.parse(d.time)) + ' · up ' + d.uptime_s + ' s';
  }

  function unreachable(why) {
    $('unreachable').hidden = why === null;
    $('unreachable-detail').textContent = why || '';
    document.body.dataset.reachable = why === null ? 'yes' : 'no';
  }

  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value);
    $('token-form').hidden = true;
    poll();
  });

  var timer = null;
  function poll() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    var headers = { accept: 'application/json' };
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = 'Bearer ' + token;
    var ctl = new AbortController();
    var t = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    fetch('dashboard/data', { headers: headers, cache: 'no-store', signal: ctl.signal })
      .then(function (res) {
        if (res.status === 401) {
          unreachable(null);
          $('token-form').hidden = false;
          $('updated').textContent = 'admin token needed';
          return null; // wait for the form
        }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json().then(function (d) {
          unreachable(null);
          render(d);
          return true;
        });
      })
      .catch(function (err) {
        unreachable(err && err.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS / 1000 + ' s' : String(err && err.message || err));
        return true;
      })
      .then(function (again) {
        clearTimeout(t);
        if (again) timer = setTimeout(poll, POLL_MS);
      });
  }
  poll();
})();
