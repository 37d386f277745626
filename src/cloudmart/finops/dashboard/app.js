"use strict";
// CloudMart cost dashboard: reads the analyzer's own APIs and renders tables and SVG charts.
// No external scripts: everything here runs offline.

const COLORS = ["#2f6fde", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#ec4899", "#64748b"];
const money = (v) => "$" + (v || 0).toFixed(2);
const pct = (v) => ((v || 0) * 100).toFixed(1) + "%";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

async function getJSON(url) {
  const resp = await fetch(url);
  const body = await resp.json();
  if (!resp.ok) {
    const err = new Error(body.detail || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function fill(tableId, rows) {
  const tbody = document.querySelector(`#${tableId} tbody`);
  tbody.replaceChildren(...rows);
}

function num(text, testid, cls) {
  const attrs = { class: "num" + (cls ? " " + cls : "") };
  if (testid) attrs["data-testid"] = testid;
  return el("td", attrs, text);
}

function renderNamespaces(set, windowHours) {
  const entries = Object.values(set).sort((a, b) => b.totalCost - a.totalCost);
  const total = entries.reduce((s, a) => s + a.totalCost, 0);
  const workloads = entries.filter((a) => !a.name.startsWith("__"));
  const costW = workloads.reduce((s, a) => s + a.cpuCost + a.ramCost, 0);
  const effW = workloads.reduce((s, a) => s + a.totalEfficiency * (a.cpuCost + a.ramCost), 0);
  document.getElementById("kpi-total").textContent = money(total);
  document.getElementById("kpi-monthly").textContent = money(windowHours ? (total / windowHours) * 730 : 0);
  document.getElementById("kpi-efficiency").textContent = pct(costW ? effW / costW : 0);
  fill("namespaces", entries.map((a) => el("tr", { "data-namespace": a.name },
    el("td", {}, a.name), num(money(a.cpuCost)), num(money(a.ramCost)),
    num(money(a.totalCost), `ns-cost-${a.name}`),
    num(pct(a.cpuEfficiency)), num(pct(a.ramEfficiency)), num(pct(a.totalEfficiency), `ns-eff-${a.name}`))));
  const max = Math.max(...entries.map((a) => a.totalCost), 1e-9);
  document.getElementById("namespace-bars").replaceChildren(...entries.map((a) =>
    el("div", { class: "bar" }, el("span", {}, a.name),
      el("div", { class: "fill", style: `width:${(100 * a.totalCost / max).toFixed(1)}%` }),
      el("span", {}, money(a.totalCost)))));
}

function renderTrend(allSets) {
  // Days before the history starts carry no cost: start the chart at the first day with data.
  const firstWithData = allSets.findIndex((s) => Object.values(s).some((a) => a.totalCost > 0));
  const sets = firstWithData < 0 ? [] : allSets.slice(firstWithData);
  const chart = document.getElementById("trend");
  chart.replaceChildren();
  const names = [...new Set(sets.flatMap((s) => Object.keys(s)))].sort();
  const totals = sets.map((s) => Object.values(s).reduce((t, a) => t + a.totalCost, 0));
  const max = Math.max(...totals, 1e-9);
  const W = 800, H = 190, pad = 40, bw = (W - pad) / Math.max(sets.length, 1);
  chart.append(svg("line", { x1: pad, y1: H, x2: W, y2: H, stroke: "#98a2b3" }));
  sets.forEach((set, i) => {
    let y = H;
    names.forEach((n, j) => {
      const a = set[n];
      if (!a || a.totalCost <= 0) return;
      const h = (a.totalCost / max) * (H - 20);
      y -= h;
      const rect = svg("rect", { x: pad + i * bw + 6, y, width: bw - 12, height: h, fill: COLORS[j % COLORS.length] });
      rect.append(svg("title", {}));
      rect.lastChild.textContent = `${n}: ${money(a.totalCost)}`;
      chart.append(rect);
    });
    const first = Object.values(set)[0];
    const label = svg("text", { x: pad + i * bw + bw / 2, y: H + 16, "text-anchor": "middle", "font-size": 11, fill: "#667085" });
    label.textContent = first ? first.window.start.slice(5, 10) : "";
    chart.append(label);
    const value = svg("text", { x: pad + i * bw + bw / 2, y: y - 4, "text-anchor": "middle", "font-size": 11, fill: "#1d2433", "data-testid": `trend-day-${i}` });
    value.textContent = money(totals[i]);
    chart.append(value);
  });
  document.getElementById("trend-legend").replaceChildren(...names.map((n, j) =>
    el("span", {}, el("i", { style: `background:${COLORS[j % COLORS.length]}` }), n)));
}

function renderWorkloads(set) {
  const rows = Object.values(set).filter((a) => !a.name.startsWith("__"))
    .sort((a, b) => b.totalCost - a.totalCost).slice(0, 10);
  // keys are "<namespace>/<kind>:<name>": one row per workload, not per name across namespaces
  fill("workloads", rows.map((a) => el("tr", {},
    el("td", {}, a.name.slice(a.name.indexOf("/") + 1)), el("td", {}, a.name.slice(0, a.name.indexOf("/"))),
    num(money(a.totalCost), `workload-cost-${a.name}`), num(pct(a.cpuEfficiency)), num(pct(a.ramEfficiency)))));
}

function renderRightsizing(recs) {
  const savings = recs.reduce((s, r) => s + Math.max(0, r.monthlySavings.total), 0);
  document.getElementById("kpi-savings").textContent = money(savings);
  fill("rightsizing", recs.map((r) => {
    const id = `${r.namespace}/${r.controllerName}/${r.containerName}`;
    const s = r.monthlySavings.total;
    return el("tr", { "data-container": id },
      el("td", {}, r.namespace), el("td", {}, `${r.controllerKind}/${r.controllerName}`), el("td", {}, r.containerName),
      el("td", { "data-testid": `rec-cpu-${id}` }, `${r.latestKnownRequest.cpu || "none"} → ${r.recommendedRequest.cpu || "–"}`),
      el("td", { "data-testid": `rec-mem-${id}` }, `${r.latestKnownRequest.memory || "none"} → ${r.recommendedRequest.memory || "–"}`),
      num(money(s), `rec-savings-${id}`, s >= 0 ? "save" : "loss"),
      el("td", {}, el("span", { class: `tag ${r.status}`, title: r.message || "" }, r.status)));
  }));
  const hpas = recs.filter((r) => r.hpa);
  fill("hpas", hpas.map((r) => {
    const h = r.hpa, cur = h.currentReplicas, proj = h.projectedReplicas;
    const targets = h.metrics.map((m) => m.type === "Utilization" ? `${m.resource} ${m.value}%` : `${m.resource} ${m.value} avg`).join(", ");
    return el("tr", { "data-hpa": h.name },
      el("td", {}, `${r.namespace}/${r.controllerName}`), el("td", {}, h.name), el("td", {}, targets),
      el("td", {}, cur ? `${cur.min}–${cur.max}, avg ${cur.avg.toFixed(2)}` : "–"),
      el("td", { "data-testid": `hpa-projected-${h.name}` }, `${proj.min}–${proj.max}, avg ${proj.avg.toFixed(2)}`),
      el("td", {}, `${money(h.currentMonthlyCost)} → ${money(h.projectedMonthlyCost)}`));
  }));
}

function renderPrediction(pred) {
  document.getElementById("prediction-source").textContent = `from ${pred.path}, at the HPAs' min, the current and the max replicas (monthly)`;
  fill("prediction", pred.workloads.map((w) => el("tr", {},
    el("td", {}, `${w.namespace}/${w.controllerKind}/${w.controllerName}`), el("td", {}, w.hpa || "–"),
    el("td", {}, `${w.replicas.min}/${w.replicas.current}/${w.replicas.max}`),
    num(money(w.monthly.min.total)), num(money(w.monthly.current.total), `pred-${w.namespace}-${w.controllerName}`),
    num(money(w.monthly.max.total)))));
  const t = pred.total;
  document.querySelector("#prediction tfoot").replaceChildren(el("tr", {},
    el("th", {}, "total"), el("th", {}), el("th", {}), num(money(t.min)), num(money(t.current), "pred-total"), num(money(t.max))));
}

async function load() {
  const status = document.getElementById("status");
  const win = document.getElementById("window").value;
  status.dataset.state = "loading";
  status.textContent = "loading…";
  const failures = [];
  const guard = (what, p) => p.catch((e) => { failures.push(`${what}: ${e.message}`); return null; });
  const [ns, trend, ctrl, recs, pred] = await Promise.all([
    guard("allocation", getJSON(`/model/allocation?window=${win}&aggregate=namespace&accumulate=true`)),
    guard("trend", getJSON(`/model/allocation?window=7d&aggregate=namespace&step=1d`)),
    guard("workloads", getJSON(`/model/allocation?window=${win}&aggregate=namespace,controller&accumulate=true&idle=false`)),
    guard("right-sizing", getJSON(`/model/savings/requestSizingV2?window=${win}`)),
    guard("prediction", getJSON(`/model/prediction/overlay`)),
  ]);
  const hours = { "1d": 24, "2d": 48, "7d": 168 }[win];
  if (ns) renderNamespaces(ns.data[0] || {}, hours);
  if (trend) renderTrend(trend.data);
  if (ctrl) renderWorkloads(ctrl.data[0] || {});
  if (recs) renderRightsizing(recs);
  if (pred) renderPrediction(pred);
  status.dataset.state = failures.length ? "error" : "ready";
  status.textContent = failures.length ? failures.join("; ") : `updated ${new Date().toISOString().slice(0, 19)}Z`;
}

document.getElementById("window").addEventListener("change", load);
load();
