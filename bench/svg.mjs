/**
 * Renders bench results as a hand-written SVG bar chart (no dependency): one panel per scenario,
 * one bar per candidate — the ratio against the scenario's baseline where there is one, else the
 * time (p50 with p95 as a lighter extension). Targets are dashed lines; PASS/MISS is printed.
 */

const WIDTH = 1100;
const LABEL_W = 390;
const BAR_X = LABEL_W + 10;
const BAR_W = 380;
const ROW_H = 20;
const COLORS = {
  ours: '#2563eb',
  ours95: '#93c5fd',
  baseline: '#4b5563',
  reference: '#d1d5db',
  peer: '#f59e0b',
  peer95: '#fcd34d',
  pass: '#15803d',
  miss: '#b91c1c',
};

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function fmtMs(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** Bar colour: the row's `kind` when the scenario gives one, else guessed from the label. */
function kindOf(row) {
  if (row.kind && COLORS[row.kind]) return row.kind;
  if (/config-persistence|^(save|load)Config\b|Configuration\.open/i.test(row.label)) return 'ours';
  if (row.ratio === 1 || /floor|baseline|bare|^raw|no backups|none|idle/i.test(row.label)) return 'baseline';
  if (/\(reference\)/i.test(row.label)) return 'reference';
  return 'peer';
}

/**
 * What a panel plots: milliseconds when a target is about time (latency) or no row has a ratio,
 * else the ratio to the scenario's baseline.
 */
function panelOf(scenario) {
  const timeTargets = scenario.rows.some((r) => r.target && r.target.metric !== 'ratio');
  const withRatio = scenario.rows.filter((r) => typeof r.ratio === 'number' && Number.isFinite(r.ratio));
  if (withRatio.length && !timeTargets) return { metric: 'ratio', rows: withRatio };
  const withMs = scenario.rows.filter((r) => Number.isFinite(r.p50_ms ?? r.median_ms ?? r.max_ms));
  return { metric: 'ms', rows: withMs };
}

/** The SVG document for a results object as written to results.json. */
export function renderSvg(results) {
  const m = results.machine;
  const parts = [];
  let y = 28;
  parts.push(`<text x="10" y="${y}" font-size="17" font-weight="bold">config-persistence benchmarks${results.quick ? ' (quick mode — not meaningful)' : ''}</text>`);
  y += 18;
  parts.push(`<text x="10" y="${y}" font-size="11" fill="#374151">${esc(`${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, Node ${m.node}, ${m.platform}; file system: ${m.file_system}; ${m.date.slice(0, 10)}; medians of ${results.rounds} round(s)`)}</text>`);
  y += 14;
  parts.push(
    `<text x="10" y="${y}" font-size="11" fill="#374151">Bars: ratio to the baseline measured in the same run (lower is better), or time where there is no baseline. ` +
      `<tspan fill="${COLORS.ours}">■ config-persistence</tspan>  <tspan fill="${COLORS.baseline}">■ baseline</tspan>  <tspan fill="${COLORS.peer}">■ peers</tspan>  <tspan fill="#9ca3af">■ reference</tspan>  ┆ target</text>`,
  );
  y += 16;
  for (const scenario of results.scenarios) {
    const panel = panelOf(scenario);
    y += 18;
    const title = `${scenario.name}${scenario.description ? ` — ${scenario.description}` : ''}`;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(title)}</text>`);
    if (scenario.error || panel.rows.length === 0) {
      y += 18;
      parts.push(`<text x="20" y="${y}" font-size="11" fill="#6b7280">${esc(scenario.error ?? 'no figures')}</text>`);
      y += 4;
      continue;
    }
    const value = (row) => (panel.metric === 'ratio' ? row.ratio : (row.p50_ms ?? row.median_ms ?? row.max_ms));
    const high = (row) => (panel.metric === 'ratio' ? row.ratio : (row.p95_ms ?? value(row)));
    const targets = panel.rows
      .filter((r) => r.target && (panel.metric === 'ratio' ? r.target.metric === 'ratio' : r.target.metric !== 'ratio'))
      .map((r) => r.target.max);
    const biggestTarget = Math.max(0, ...targets);
    const biggest = Math.max(...panel.rows.map(high), biggestTarget);
    // Keep small ratios readable when one peer is far slower: clip at 4× the target (or 4×).
    const clip = panel.metric === 'ratio' ? Math.max(4, 4 * biggestTarget) : biggestTarget > 0 ? 4 * biggestTarget : Number.POSITIVE_INFINITY;
    const scaleMax = Math.min(biggest, clip) * 1.05 || 1;
    const x = (v) => BAR_X + (Math.min(v, scaleMax) / scaleMax) * BAR_W;
    const top = y + 8;
    for (const row of panel.rows) {
      y += ROW_H;
      const kind = kindOf(row);
      const v = value(row);
      const hi = high(row);
      const barY = y - 13;
      parts.push(`<text x="${LABEL_W}" y="${y - 2}" font-size="11" text-anchor="end">${esc(row.label.length > 62 ? `${row.label.slice(0, 60)}…` : row.label)}</text>`);
      if (hi > v) parts.push(`<rect x="${BAR_X}" y="${barY}" width="${(x(hi) - BAR_X).toFixed(1)}" height="14" fill="${kind === 'ours' ? COLORS.ours95 : COLORS.peer95}"/>`);
      parts.push(`<rect x="${BAR_X}" y="${barY}" width="${Math.max(1, x(v) - BAR_X).toFixed(1)}" height="14" fill="${COLORS[kind]}"/>`);
      const clipped = hi > scaleMax;
      let text = panel.metric === 'ratio' ? `${v.toFixed(2)}×` : `${fmtMs(v)}${hi > v ? ` / p95 ${fmtMs(hi)}` : ''}`;
      if (panel.metric === 'ratio' && Number.isFinite(row.median_ms)) text += `  (${fmtMs(row.median_ms)})`;
      if (clipped) text = `» ${text}`;
      parts.push(`<text x="${(x(hi) + 5).toFixed(1)}" y="${y - 2}" font-size="11">${esc(text)}</text>`);
      if (row.status === 'PASS' || row.status === 'MISS') {
        parts.push(`<text x="${WIDTH - 10}" y="${y - 2}" font-size="11" font-weight="bold" text-anchor="end" fill="${row.status === 'PASS' ? COLORS.pass : COLORS.miss}">${row.status} ${esc(row.target.text)}</text>`);
      }
    }
    for (const t of new Set(targets)) {
      if (t > scaleMax) continue;
      parts.push(`<line x1="${x(t).toFixed(1)}" y1="${top - 4}" x2="${x(t).toFixed(1)}" y2="${y + 3}" stroke="#111827" stroke-dasharray="3,3"/>`);
    }
    if (panel.metric === 'ratio') {
      parts.push(`<line x1="${x(1).toFixed(1)}" y1="${top - 4}" x2="${x(1).toFixed(1)}" y2="${y + 3}" stroke="#9ca3af" stroke-width="0.8"/>`);
    }
    y += 6;
  }
  y += 14;
  const height = y;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}
