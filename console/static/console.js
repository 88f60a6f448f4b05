// The live console: the fleet pushed by the server (server-sent events), drawn without reloading.
// Text is set with textContent only: a plant's names never become markup.
"use strict";

const lines = new Map();   // line path -> {card, chart, tiles: Map(machine path -> tile)}
const pct = (x) => (x === null || x === undefined) ? null : (x * 100).toFixed(1) + " %";
const minutesOf = (s) => (s / 60).toFixed(1) + " min";
let language = "both";
let timelineChart = null;
let lastFleet = null;

function bi(zh, en, tag = "span") {
  const out = document.createElement(tag);
  const a = document.createElement("span"); a.lang = "zh"; a.textContent = zh;
  const b = document.createElement("span"); b.lang = "en"; b.textContent = en;
  out.append(a, " ", b);
  return out;
}

function name(n) { return n.zh === n.en ? bi(n.zh, "") : bi(n.zh, n.en); }
function text(t) { return bi(t.zh, t.en); }
// what a chart says in the language chosen (a chart's text cannot be switched by the page's stylesheet)
function say(t) { return language === "zh" ? t.zh : language === "en" ? t.en : `${t.zh} ${t.en}`; }

// Each part of the page is redrawn only when what it shows changed: rebuilding every tile, table and chart of
// 1,000 machines every second took the page seconds per update (bench/console.py, docs/console.md "Benchmark").
const drawnFrom = new WeakMap();  // node -> the JSON it was last drawn from
const chartUpdates = [];  // the line charts' new options, set once the page is written
// A big plant's lines out of view are drawn when they come into view: a reader sees a few line cards at a time, and
// a hundred lines redrawn at every KPI tick took the page most of a second (bench/console.py). A small plant (the
// examples, the classroom) is drawn whole every time.
const LAZY_FROM_LINES = 20;
const inView = new Set();   // line cards within a screen's height of the viewport
const pending = new Map();  // line card -> what it waits to draw: [entry, line, now]
const seen = new IntersectionObserver((changes) => {
  for (const change of changes) {
    if (!change.isIntersecting) { inView.delete(change.target); continue; }
    inView.add(change.target);
    const waiting = pending.get(change.target);
    if (waiting) { pending.delete(change.target); drawLine(...waiting); }
  }
  for (const update of chartUpdates.splice(0)) update();
}, {rootMargin: "100% 0px"});
function unchanged(node, data) {
  const key = JSON.stringify(data);
  if (drawnFrom.get(node) === key) return true;
  drawnFrom.set(node, key);
  return false;
}

function el(tag, cls, ...children) {
  const e = document.createElement(tag); if (cls) e.className = cls; e.append(...children); return e;
}

// never a bare dash: the reason goes beside it, in words
function blank(why) {
  const b = document.createElement("b"); b.textContent = "—"; b.dataset.reason = why.en;
  return el("span", "blank", b, " ", bi(why.zh, why.en, "small"));
}

function minutes(sinceMs, nowMs) {
  if (sinceMs === null || sinceMs === undefined) return null;
  const m = Math.max(0, Math.round((nowMs - sinceMs) / 60000));
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

function kpiCell(label, value, why, key, raw) {
  const cell = document.createElement("span"); cell.className = "kpi";
  if (key) cell.dataset.kpi = key;
  const b = document.createElement("b");
  if (value === null) {  // never a bare dash: say why
    b.textContent = "—"; b.dataset.reason = why.en;
    cell.append(label, ": ", b, " ", bi(why.zh, why.en, "small"));
  } else {
    b.textContent = value; cell.append(label, ": ", b);
    if (raw !== undefined && raw !== null) cell.dataset.value = String(raw);
  }
  return cell;
}

function lineCard(line) {
  const card = document.createElement("section"); card.className = "line"; card.dataset.line = line.path;
  const h = document.createElement("h3"); const title = el("span", "", name(line.name));
  const chip = el("span", "grade-chip"); h.append(title, " ", chip); card.append(h);
  const top = el("div", "line-top"); card.append(top);
  const box = document.createElement("div"); box.className = "chart";
  const kpis = document.createElement("div"); kpis.className = "kpis";
  const windows = el("table", "windows");
  top.append(box, el("div", "", kpis, windows));
  const note = document.createElement("p"); note.className = "constraint-note"; card.append(note);
  const tiles = document.createElement("div"); tiles.className = "tiles"; card.append(tiles);
  const details = el("div", "details"); card.append(details);
  return {card, chip, kpis, windows, note, tiles, box, details, chart: null, byPath: new Map()};
}

function drawWindows(table, line) {
  const head = el("tr", "");
  for (const [zh, en] of [["窗口", "window"], ["OEE", "OEE"], ["可用率", "A"], ["性能", "P"], ["质量", "Q"]]) {
    head.append(el("th", "", zh === en ? bi(zh, "") : bi(zh, en)));
  }
  const rows = line.windows.map((w) => {
    const tr = el("tr", ""); tr.dataset.window = w.key;
    tr.append(el("td", "", text(w.title)));
    if (w.oee === null && w.availability === null) {
      const td = el("td", "", blank(w.why)); td.colSpan = 4; tr.append(td);
    } else {
      for (const k of ["oee", "availability", "performance", "quality"]) {
        tr.append(el("td", "n", w[k] === null ? blank({zh: "尚无零件", en: "no part yet"}) : pct(w[k])));
      }
    }
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

const LOSS_COLOURS = {breakdowns: "#d93025", setup: "#2f6fd1", minor_stops: "#f08c00", reduced_speed: "#e0b400",
                      defects: "#8e44ad", startup: "#a0522d", valuable: "#2e9d4a"};

function drawDetails(box, line) {
  const s = line.shift;
  if (!s) {
    box.replaceChildren(el("p", "muted", bi("本班次的六大损失、产出与单件能耗：", "This shift's six big losses, output and "
      + "energy per good part:"), " ", blank(line.why)));
    return;
  }
  // the six big losses, as shares of the planned busy time, with the valuable time they leave
  const losses = s.losses;
  const bar = el("div", "loss-bar");
  const list = el("ul", "losses");
  for (const item of losses.items) {
    const li = el("li", ""); li.dataset.loss = item.key;
    const swatch = el("i", "swatch"); swatch.style.background = LOSS_COLOURS[item.key];
    li.append(swatch, text(item), ": ");
    if (item.seconds === null) li.append(blank(item.why));
    else {
      li.append(el("b", "", minutesOf(item.seconds)));
      if (item.share !== null) li.append(` (${pct(item.share)})`);
      if (item.detail) li.append(" ", bi(item.detail.zh, item.detail.en, "small"));
    }
    list.append(li);
    if (item.share > 0) {
      const seg = el("span", ""); seg.style.width = (item.share * 100).toFixed(2) + "%";
      seg.style.background = LOSS_COLOURS[item.key]; seg.title = `${item.zh} ${item.en}`; bar.append(seg);
    }
  }
  const valuable = el("li", ""); valuable.dataset.loss = "valuable";
  const vs = el("i", "swatch"); vs.style.background = LOSS_COLOURS.valuable;
  valuable.append(vs, bi("有效时间（良品的理想时间）", "valuable time (the good parts' ideal time)"), ": ",
                  el("b", "", minutesOf(losses.valuable_s)),
                  losses.valuable_share === null ? "" : ` (${pct(losses.valuable_share)})`);
  list.append(valuable);
  if (losses.valuable_share > 0) {
    const seg = el("span", ""); seg.style.width = (losses.valuable_share * 100).toFixed(2) + "%";
    seg.style.background = LOSS_COLOURS.valuable; bar.append(seg);
  }
  const lossBox = el("div", "panel-losses", el("h4", "", bi("六大损失", "six big losses"), " · ", text(s.title)),
                     el("p", "muted small", bi(`占计划生产时间 ${minutesOf(losses.pbt_s)}`,
                                               `shares of the planned busy time, ${minutesOf(losses.pbt_s)}`)),
                     bar, list);
  // output against the ideal
  const o = s.output;
  const out = el("p", ""); out.dataset.output = o.ratio === null ? "" : String(o.ratio);
  if (o.ideal === null) out.append(blank(o.why));
  else {
    const ideal = Math.floor(o.ideal);
    out.append(bi(`良品 ${o.good} 件，理想产量 ${ideal} 件，达成 ${pct(o.ratio)}`,
                  `${o.good} good parts against an ideal ${ideal}: ${pct(o.ratio)}`));
    out.append(el("br", ""), bi(`理想产量 = 计划生产时间 ÷ 瓶颈理想节拍 ${o.cycle_s.toFixed(1)} s`,
                                `ideal = planned busy time ÷ the constraint's ideal cycle ${o.cycle_s.toFixed(1)} s`,
                                "small"));
  }
  const outBox = el("div", "panel-output", el("h4", "", bi("产出对比理想", "output against the ideal")), out);
  // energy per good part
  const e = s.energy;
  const energy = el("p", ""); energy.dataset.energy = e.per_good === null ? "" : String(e.per_good);
  if (e.per_good === null) energy.append(blank(e.why), " ", bi(`已用 ${e.kwh.toFixed(1)} kWh`, `${e.kwh.toFixed(1)} kWh used`,
                                                              "small"));
  else energy.append(el("b", "", `${e.per_good.toFixed(3)} kWh`), " ",
                     bi(`每件良品（${e.kwh.toFixed(1)} kWh ÷ ${e.good} 件）`, `per good part (${e.kwh.toFixed(1)} kWh ÷ ${e.good})`));
  if (e.note) energy.append(el("br", ""), bi(e.note.zh, e.note.en, "small"));
  const energyBox = el("div", "panel-energy", el("h4", "", bi("单件能耗", "energy per good part")), energy);
  box.replaceChildren(lossBox, el("div", "", outBox, energyBox));
}

function paintGrade(node, grade) {
  node.dataset.colour = grade.colour || "none";
  node.style.background = grade.fill || "";
}

function drawLine(entry, line, nowMs) {
  const k = line.kpis;
  const why = line.constraint_networked
    ? {zh: "尚无数据", en: "no data yet"}
    : {zh: "瓶颈工位未联网，无法测得", en: "its constraint station is not networked: it cannot be measured"};
  if (!unchanged(entry.kpis, [k, why])) entry.kpis.replaceChildren(
    kpiCell(bi("OEE", ""), pct(k.oee), why, "oee", k.oee),
    kpiCell(bi("可用率", "A"), pct(k.availability), why, "availability", k.availability),
    kpiCell(bi("性能", "P"), pct(k.performance), why, "performance", k.performance),
    kpiCell(bi("质量", "Q"), pct(k.quality), why, "quality", k.quality));
  if (!unchanged(entry.windows, line.windows)) drawWindows(entry.windows, line);
  if (!unchanged(entry.chip, [line.grade, language])) {
    paintGrade(entry.chip, line.grade);
    entry.chip.replaceChildren(bi(`五色图：${line.grade.zh}`, `grade: ${line.grade.en}`));
    entry.chip.title = say(line.grade.explain);
  }
  const constraint = line.machines.find((m) => m.constraint);
  if (!unchanged(entry.note, constraint.name)) entry.note.replaceChildren(bi(
    `瓶颈工位：${constraint.name.zh}——理想节拍最长的工位，产线 OEE 即其 OEE（近 1 小时）。`,
    `Constraint station: ${constraint.name.en}, the station with the longest ideal cycle time; the line's OEE ` +
    "is its OEE (last hour)."));
  if (!entry.chart && window.echarts && entry.card.isConnected) {  // sized once it is on the page
    entry.chart = echarts.init(entry.box, null, {renderer: "svg"});
  }
  // set after every part of the page is written (render): ECharts reads the layout as it draws, and reading it
  // between writes made the browser lay the page out again for each of a hundred charts
  if (entry.chart && !unchanged(entry.box, k)) chartUpdates.push(() => {
    entry.chart.setOption({
      animation: false, grid: {left: 36, right: 8, top: 8, bottom: 20},
      xAxis: {type: "category", data: ["A", "P", "Q", "OEE"]},
      yAxis: {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}},
      series: [{type: "bar", data: [k.availability, k.performance, k.quality, k.oee]
        .map((v) => v === null ? 0 : +(v * 100).toFixed(1))}],
    });
  });
  for (const m of line.machines) {
    let tile = entry.byPath.get(m.path);
    if (!tile) {
      tile = document.createElement("div"); tile.className = "tile"; tile.dataset.machine = m.path;
      entry.byPath.set(m.path, tile); entry.tiles.append(tile);
    }
    const lasted = minutes(m.since_ms, nowMs);
    if (unchanged(tile, [m.name, m.condition, m.constraint, lasted])) continue;
    tile.classList.toggle("not_networked", m.condition.key === "not_networked");
    tile.dataset.condition = m.condition.key;
    if (m.condition.key !== "not_networked") tile.style.background = m.condition.colour;
    const title = document.createElement("div"); title.className = "name"; title.append(name(m.name));
    if (m.constraint) { const b = bi("瓶颈", "constraint"); b.className = "badge"; title.append(" ", b); }
    const cond = document.createElement("div"); cond.className = "condition";
    cond.append(bi(m.condition.zh, m.condition.en));
    const since = document.createElement("div"); since.className = "since";
    if (lasted) since.append(bi(`已持续 ${lasted}`, `for ${lasted}`));
    else if (m.condition.key === "not_networked") since.append(bi("台账登记，不发送数据", "in the register, sends nothing"));
    tile.replaceChildren(title, cond, since);
  }
  if (!unchanged(entry.details, [line.shift, line.why])) drawDetails(entry.details, line);
}

function drawRates(box, site) {
  if (unchanged(box, [site.rates, site.region])) return;
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

// the 五色图: a row per site, its own cell first, then its lines'; each cell says why it has its colour
function gradeCell(unit, label, grade) {
  const cell = el("div", "grade"); cell.dataset.grade = unit; paintGrade(cell, grade);
  const score = grade.score === null ? "" : bi(`· ${grade.measure.zh} ${pct(grade.score)}`,
                                               `· ${grade.measure.en} ${pct(grade.score)}`);
  cell.append(el("div", "grade-name", label), el("div", "grade-colour", bi(grade.zh, grade.en), " ", score),
              el("div", "grade-why", text(grade.explain)));
  return cell;
}

function drawGrades(fleet) {
  const grid = document.getElementById("grade-grid");
  if (unchanged(grid, [fleet.grading, fleet.sites.map((s) => [s.path, s.name, s.grade,
                                                             s.lines.map((l) => [l.path, l.name, l.grade])])])) return;
  grid.replaceChildren(...fleet.sites.map((site) => el("div", "grade-row",
    gradeCell(site.path, el("span", "", bi("厂区", "site"), " ", name(site.name)), site.grade),
    ...site.lines.map((line) => gradeCell(line.path, el("span", "", bi("产线", "line"), " ", name(line.name)),
                                          line.grade)))));
  const g = fleet.grading;
  const head = el("tr", "", el("th", "", bi("颜色", "colour")), el("th", "", text(g.lines)), el("th", "", text(g.sites)));
  const rows = g.legend.map((c) => {
    const swatch = el("i", "swatch"); swatch.style.background = c.fill;
    const tr = el("tr", "", el("td", "", swatch, bi(c.zh, c.en)), el("td", "", text(c.line)), el("td", "", text(c.site)));
    tr.dataset.colour = c.colour;
    return tr;
  });
  document.getElementById("grade-legend").replaceChildren(el("table", "legend", head, ...rows));
}

// the alarms and injected events on the plant's own clock: ECharts formats times in the browser's zone or in UTC
// only, so the plant's wall-clock times are drawn as UTC
function drawTimeline(t) {
  const list = document.getElementById("timeline-list");
  const items = [...t.items].reverse();  // newest first
  if (!unchanged(list, [t.items, t.empty])) list.replaceChildren(...(items.length ? items.map((i) => {
    const li = el("li", "", text(i.text)); li.dataset.item = i.id; li.dataset.type = i.type; li.dataset.kind = i.kind;
    if (i.event !== undefined) li.dataset.event = String(i.event);
    li.dataset.ongoing = String(i.end_ms === null);
    const swatch = el("i", "swatch"); swatch.style.background = i.colour; li.prepend(swatch);
    return li;
  }) : [el("li", "muted", text(t.empty))]));
  const box = document.getElementById("timeline-chart");
  const height = Math.max(110, 46 + 34 * t.rows.length) + "px";
  // resized only when its height changes: a resize makes the browser lay out the whole page there and then
  const resized = box.style.height !== height;
  if (resized) box.style.height = height;
  if (!timelineChart && window.echarts && box.isConnected) timelineChart = echarts.init(box, null, {renderer: "svg"});
  if (!timelineChart) return;
  if (resized) timelineChart.resize();
  // redrawn when an item or the language changes, and as the axis moves on by whole minutes of plant time: redrawn
  // every second, it took a tenth of the page's time and its memory grew by 0.1 MB a minute (bench/console.py)
  if (unchanged(box, [t.items, t.rows, language, Math.floor(t.end_ms / 60000), resized])) return;
  const shift = (ms) => ms + t.utc_offset_ms;
  const row = new Map(t.rows.map((r, k) => [r.target, k]));
  const data = t.items.map((i, k) => ({
    value: [row.get(i.target), shift(Math.max(i.start_ms, t.start_ms)), shift(i.end_ms === null ? t.end_ms : i.end_ms),
            k, i.type === "injected" ? 0 : 1],
    itemStyle: {color: i.colour}}));
  timelineChart.setOption({
    animation: false, useUTC: true, grid: {left: 150, right: 16, top: 8, bottom: 28},
    tooltip: {formatter: (p) => echarts.format.encodeHTML(say(t.items[p.value[3]].text))},
    xAxis: {type: "time", min: shift(t.start_ms), max: shift(t.end_ms), splitNumber: 6,
            axisLabel: {hideOverlap: true}},
    yAxis: {type: "category", data: t.rows.map((r) => say(r.name)), inverse: true,
            axisLabel: {width: 140, overflow: "truncate"}},
    series: [{type: "custom", encode: {x: [1, 2], y: 0}, data,
      renderItem: (params, api) => {
        const a = api.coord([api.value(1), api.value(0)]), b = api.coord([api.value(2), api.value(0)]);
        const h = api.size([0, 1])[1] * 0.36;
        // injected events above the row's middle, alarms below: an alarm an event caused stays visible beside it
        const y = a[1] + (api.value(4) === 0 ? -h : 0);
        const c = params.coordSys;
        const shape = echarts.graphic.clipRectByRect({x: a[0], y, width: Math.max(b[0] - a[0], 3), height: h - 1},
                                                     {x: c.x, y: c.y, width: c.width, height: c.height});
        return shape && {type: "rect", shape, style: api.style()};
      }}],
  }, {notMerge: true});
}

function render(fleet) {
  lastFleet = fleet;
  const root = document.getElementById("fleet");
  const lazy = fleet.sites.reduce((n, s) => n + s.lines.length, 0) >= LAZY_FROM_LINES;
  root.classList.toggle("lazy", lazy);  // the browser skips laying out and painting the cards out of view too
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
      if (!entry) {
        entry = lineCard(line); lines.set(line.path, entry); box.append(entry.card); seen.observe(entry.card);
      } else if (lazy && !inView.has(entry.card)) {  // drawn once already: the rest when it comes into view
        pending.set(entry.card, [entry, line, fleet.now_ms]);
        continue;
      }
      pending.delete(entry.card);
      drawLine(entry, line, fleet.now_ms);
    }
  }
  drawGrades(fleet);
  for (const update of chartUpdates.splice(0)) update();
  drawTimeline(fleet.timeline);
  // the plant's own clock and zone (the browser's zone would put a Wuhan plant's 08:00 at 00:00 in UTC)
  const at = (locale) => new Date(fleet.now_ms).toLocaleString(locale, {timeZone: fleet.timezone});
  document.getElementById("clock").replaceChildren(
    bi(`工厂时间 ${at("zh-CN")}`, `plant time ${at("en-GB")} (${fleet.timezone})`));
  performance.clearMarks("fleet-drawn");  // the newest only: a mark a second would fill the page's memory
  performance.mark("fleet-drawn");
}

function patched(doc, ops) {
  for (const op of ops) {
    if (op.op !== "replace") throw new Error(`a fleet patch with op ${op.op}`);
    if (op.path === "") { doc = op.value; continue; }
    const keys = op.path.slice(1).split("/").map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop();
    let at = doc;
    for (const k of keys) at = at[k];
    at[last] = op.value;
  }
  return doc;
}

function connect() {
  const status = document.getElementById("status");
  const events = new EventSource("/events");
  events.addEventListener("fleet", (e) => {
    status.replaceChildren(bi("已连接，实时更新", "connected, live"));
    render(JSON.parse(e.data));
  });
  // what changed since the last one: JSON Patch (RFC 6902), replace only (console/_hub.py); the server sends the
  // whole fleet first on every connection, so there is always one to patch
  events.addEventListener("patch", (e) => render(patched(lastFleet, JSON.parse(e.data))));
  events.onerror = () => status.replaceChildren(bi("连接中断，正在重连……", "connection lost, reconnecting…"));
}

window.addEventListener("resize", () => { if (timelineChart) timelineChart.resize(); });
document.getElementById("language").addEventListener("change", (e) => {
  language = e.target.value;
  document.body.className = "lang-" + language;
  if (lastFleet) drawTimeline(lastFleet.timeline);
});
connect();
