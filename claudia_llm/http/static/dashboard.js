// Live dashboard of http_bridge: initial state from /v1/stats, then /v1/events (SSE).
'use strict';
(function () {
  const TIERS = ['emergency', 'exact', 'semantic', 'llm', 'fallback'];
  const COLOURS = {emergency: '#d62728', exact: '#1f77b4', semantic: '#2ca02c',
                   llm: '#9467bd', fallback: '#7f7f7f'};
  const QUANTILES = [['p50_ms', 'p50', []], ['p95_ms', 'p95', [6, 3]], ['p99_ms', 'p99', [2, 2]]];
  const MAX_ROWS = 50;
  const token = new URLSearchParams(location.search).get('access_token');
  const withToken = (url) => token ? url + (url.includes('?') ? '&' : '?') +
    'access_token=' + encodeURIComponent(token) : url;
  const headers = token ? {'Authorization': 'Bearer ' + token} : {};
  const $ = (id) => document.getElementById(id);
  const state = {chart: null, points: 0, records: 0, maxPoints: 300};
  window.claudiaDashboard = state;

  function makeChart() {
    if (typeof Chart === 'undefined') { $('chart-missing').hidden = false; return null; }
    const datasets = [];
    for (const tier of TIERS) {
      for (const [key, label, dash] of QUANTILES) {
        datasets.push({label: tier + ' ' + label, tier: tier, key: key, data: [],
                       borderColor: COLOURS[tier], backgroundColor: COLOURS[tier],
                       borderDash: dash, pointRadius: 1, spanGaps: true, tension: 0.2,
                       hidden: key !== 'p50_ms' && tier !== 'exact'});
      }
    }
    return new Chart($('latency-chart'), {
      type: 'line', data: {labels: [], datasets: datasets},
      options: {animation: false, responsive: true, maintainAspectRatio: false,
                scales: {y: {type: 'logarithmic', title: {display: true, text: 'ms'}}},
                plugins: {legend: {position: 'right'}}}});
  }

  function addPoint(point) {
    updateFigures(point);
    if (!state.chart) return;
    const chart = state.chart;
    chart.data.labels.push(new Date(point.t * 1000).toLocaleTimeString());
    for (const ds of chart.data.datasets) {
      const tier = point.latency[ds.tier];
      ds.data.push(tier && tier[ds.key] !== null ? Math.max(tier[ds.key], 0.01) : null);
    }
    if (chart.data.labels.length > state.maxPoints) {
      chart.data.labels.shift();
      chart.data.datasets.forEach((ds) => ds.data.shift());
    }
    state.points += 1;
    $('latency-chart').dataset.points = String(state.points);
    chart.update();
  }

  function setHealth(id, health) {
    const el = $(id);
    if (!health) { el.className = 'badge unknown'; el.textContent = 'unknown'; return; }
    el.className = 'badge ' + String(health.level).toLowerCase();
    el.textContent = health.level + (health.message ? ': ' + health.message : '');
  }

  function updateFigures(point) {
    $('queue-depth').textContent = String(point.queue_depth);
    $('cache-hit-rate').textContent = point.total ? (100 * point.cache_hit_rate).toFixed(1) + ' %' : '-';
    $('hit-rates').textContent = TIERS.map((t) => t + ' ' +
      (100 * (point.hit_rates[t] || 0)).toFixed(0) + ' %').join(' · ') +
      ' (' + point.total + ' in ' + point.window_s + ' s)';
    setHealth('health-ollama', point.health.ollama);
    setHealth('health-redis', point.health.redis);
  }

  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function addRecord(record) {
    const body = document.querySelector('#utterances tbody');
    const row = document.createElement('tr');
    row.dataset.requestId = record.request_id;
    row.dataset.source = record.source;
    if (record.error) row.className = 'error';
    cell(row, new Date(record.stamp * 1000).toLocaleTimeString());
    cell(row, record.utterance);
    cell(row, record.reply);
    cell(row, (record.actions || []).map((a) => a.name).join(' → ') || '-');
    cell(row, record.source);
    cell(row, record.latency_ms && record.latency_ms.total !== undefined ?
      record.latency_ms.total.toFixed(1) : '-', 'num');
    cell(row, (record.policy || []).map((p) => p.action + ': ' + p.rule).join('; ') || '-');
    cell(row, record.error ? record.error.code + ': ' + record.error.message : '');
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
    state.records += 1;
    if (record.queue_depth !== undefined) $('queue-depth').textContent = String(record.queue_depth);
  }

  function connect() {
    const events = new EventSource(withToken('/v1/events'));
    events.onopen = () => { $('connection').className = 'badge ok'; $('connection').textContent = 'live'; };
    events.onerror = () => { $('connection').className = 'badge error'; $('connection').textContent = 'reconnecting'; };
    events.addEventListener('record', (e) => addRecord(JSON.parse(e.data)));
    events.addEventListener('stats', (e) => addPoint(JSON.parse(e.data)));
    events.addEventListener('reply_partial', (e) => {
      const piece = JSON.parse(e.data);
      $('partial').textContent = (piece.seq ? $('partial').textContent : '') + piece.text;
    });
  }

  $('say').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('say-text').value;
    $('say-status').textContent = 'waiting…';
    const reply = await fetch(withToken('/v1/utterances'), {method: 'POST',
      headers: Object.assign({'Content-Type': 'application/json'}, headers),
      body: JSON.stringify({text: text})});
    const body = await reply.json();
    $('say-status').textContent = reply.ok ? body.source + ' ' + body.latency_ms.total.toFixed(1) +
      ' ms' : reply.status + ': ' + JSON.stringify(body.detail);
  });

  async function start() {
    state.chart = makeChart();
    const reply = await fetch(withToken('/v1/stats'), {headers: headers});
    const initial = await reply.json();
    initial.history.forEach(addPoint);
    initial.recent.forEach(addRecord);
    updateFigures(initial.now);
    connect();
    document.body.dataset.ready = '1';
  }
  start();
}());
