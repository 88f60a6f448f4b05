// The live console: the fleet pushed by the server (server-sent events), drawn without reloading.
// Text is set with textContent only: a plant's names never become markup.
"use strict";

const lines = new Map();   // line path -> {card, chart, tiles: Map(machine path -> tile)}
const pct = (x) => (x === null || x === undefined) ? null : (x * 100).toFixed(1) + " %";

function bi(zh, en, tag = "span") {
  const out = document.createElement(tag);
  const a = document.createElement("span"); a.lang = "zh"; a.textContent = zh;
  const b = document.createElement("span"); b.lang = "en"; b.textContent = en;
  out.append(a, " ", b);
  return out;
}

function name(n) { return n.zh === n.en ? bi(n.zh, "") : bi(n.zh, n.en); }

function minutes(sinceMs, nowMs) {
  if (sinceMs === null || sinceMs === undefined) return null;
  const m = Math.max(0, Math.round((nowMs - sinceMs) / 60000));
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

function kpiCell(label, value, why) {
  const cell = document.createElement("span"); cell.className = "kpi";
  const b = document.createElement("b");
  if (value === null) {  // never a bare dash: say why
    b.textContent = "—"; b.dataset.reason = why.en;
    cell.append(label, ": ", b, " ", bi(why.zh, why.en, "small"));
  } else {
    b.textContent = value; cell.append(label, ": ", b);
  }
  return cell;
}

function lineCard(line) {
  const card = document.createElement("section"); card.className = "line"; card.dataset.line = line.path;
  const h = document.createElement("h3"); h.append(name(line.name)); card.append(h);
  const kpis = document.createElement("div"); kpis.className = "kpis"; card.append(kpis);
  const note = document.createElement("p"); note.className = "constraint-note"; card.append(note);
  const tiles = document.createElement("div"); tiles.className = "tiles"; card.append(tiles);
  const box = document.createElement("div"); box.className = "chart"; kpis.before(box);
  return {card, kpis, note, tiles, box, chart: null, byPath: new Map()};
}

function drawLine(entry, line, nowMs) {
  const k = line.kpis;
  const why = line.constraint_networked
    ? {zh: "尚无数据", en: "no data yet"}
    : {zh: "瓶颈工位未联网，无法测得", en: "its constraint station is not networked: it cannot be measured"};
  entry.kpis.replaceChildren(
    kpiCell(bi("OEE", ""), pct(k.oee), why), kpiCell(bi("可用率", "A"), pct(k.availability), why),
    kpiCell(bi("性能", "P"), pct(k.performance), why), kpiCell(bi("质量", "Q"), pct(k.quality), why));
  const constraint = line.machines.find((m) => m.constraint);
  entry.note.replaceChildren(bi(
    `瓶颈工位：${constraint.name.zh}——理想节拍最长的工位，产线 OEE 即其 OEE（近 1 小时）。`,
    `Constraint station: ${constraint.name.en}, the station with the longest ideal cycle time; the line's OEE ` +
    "is its OEE (last hour)."));
  if (!entry.chart && window.echarts && entry.card.isConnected) {  // sized once it is on the page
    entry.chart = echarts.init(entry.box, null, {renderer: "svg"});
  }
  if (entry.chart) {
    entry.chart.setOption({
      animation: false, grid: {left: 36, right: 8, top: 8, bottom: 20},
      xAxis: {type: "category", data: ["A", "P", "Q", "OEE"]},
      yAxis: {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}},
      series: [{type: "bar", data: [k.availability, k.performance, k.quality, k.oee]
        .map((v) => v === null ? 0 : +(v * 100).toFixed(1))}],
    });
  }
  for (const m of line.machines) {
    let tile = entry.byPath.get(m.path);
    if (!tile) {
      tile = document.createElement("div"); tile.className = "tile"; tile.dataset.machine = m.path;
      entry.byPath.set(m.path, tile); entry.tiles.append(tile);
    }
    tile.classList.toggle("not_networked", m.condition.key === "not_networked");
    tile.dataset.condition = m.condition.key;
    if (m.condition.key !== "not_networked") tile.style.background = m.condition.colour;
    const title = document.createElement("div"); title.className = "name"; title.append(name(m.name));
    if (m.constraint) { const b = bi("瓶颈", "constraint"); b.className = "badge"; title.append(" ", b); }
    const cond = document.createElement("div"); cond.className = "condition";
    cond.append(bi(m.condition.zh, m.condition.en));
    const since = document.createElement("div"); since.className = "since";
    const lasted = minutes(m.since_ms, nowMs);
    if (lasted) since.append(bi(`已持续 ${lasted}`, `for ${lasted}`));
    else if (m.condition.key === "not_networked") since.append(bi("台账登记，不发送数据", "in the register, sends nothing"));
    tile.replaceChildren(title, cond, since);
  }
}

function drawRates(box, site) {
  let table = box.querySelector("table.rates");
  if (!table) {
    table = document.createElement("table"); table.className = "rates";
    box.querySelector("h2").after(table);
  }
  const head = document.createElement("tr");
  for (const [zh, en] of [["两化融合指标", "indicator"], ["值", "value"], ["依据", "count"],
                          [`目标与差距（${site.region || "全国"}）`, `targets and gaps (${site.region || "national"})`]]) {
    const th = document.createElement("th"); th.append(bi(zh, en)); head.append(th);
  }
  const rows = site.rates.map((r) => {
    const tr = document.createElement("tr"); tr.dataset.rate = r.key;
    const name = document.createElement("td"); name.append(bi(r.zh, r.en));
    const value = document.createElement("td");
    if (r.value === null) { value.textContent = "—"; value.dataset.reason = "no such equipment (denominator 0)";
      value.append(" ", bi("无此类设备", "no such equipment", "small")); }
    else value.textContent = pct(r.value);
    const count = document.createElement("td"); count.textContent = `${r.numerator} / ${r.denominator}`;
    const targets = document.createElement("td");
    for (const t of r.targets) {
      const line = document.createElement("div"); line.className = t.gap >= 0 ? "met" : "short";
      line.append(bi(t.zh, t.en), `: ${pct(t.value)} → ${(t.gap * 100).toFixed(1)} pt`);
      targets.append(line);
    }
    tr.append(name, value, count, targets);
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

function render(fleet) {
  const root = document.getElementById("fleet");
  for (const site of fleet.sites) {
    let box = root.querySelector(`[data-site="${CSS.escape(site.path)}"]`);
    if (!box) {
      box = document.createElement("section"); box.className = "site"; box.dataset.site = site.path;
      const h = document.createElement("h2"); h.append(name(site.enterprise), " · ", name(site.name));
      box.append(h); root.append(box);
    }
    drawRates(box, site);
    for (const line of site.lines) {
      let entry = lines.get(line.path);
      if (!entry) { entry = lineCard(line); lines.set(line.path, entry); box.append(entry.card); }
      drawLine(entry, line, fleet.now_ms);
    }
  }
  document.getElementById("clock").replaceChildren(
    bi("工厂时间 " + new Date(fleet.now_ms).toLocaleString("zh-CN"),
       "plant time " + new Date(fleet.now_ms).toLocaleString("en-GB")));
  performance.mark("fleet-drawn");
}

function connect() {
  const status = document.getElementById("status");
  const events = new EventSource("/events");
  events.addEventListener("fleet", (e) => {
    status.replaceChildren(bi("已连接，实时更新", "connected, live"));
    render(JSON.parse(e.data));
  });
  events.onerror = () => status.replaceChildren(bi("连接中断，正在重连……", "connection lost, reconnecting…"));
}

document.getElementById("language").addEventListener("change", (e) => {
  document.body.className = "lang-" + e.target.value;
});
connect();
