// The teacher panel: the plant's run and the events injected into it, through /api/teacher/.
"use strict";

const $ = (id) => document.getElementById(id);
let kinds = [];

function headers() {
  const h = {"Content-Type": "application/json"};
  const pw = $("password").value;
  if (pw) h.Authorization = "Basic " + btoa(unescape(encodeURIComponent("teacher:" + pw)));
  return h;
}

async function call(action, body) {
  const r = await fetch("/api/teacher/" + action, {method: "POST", headers: headers(), body: JSON.stringify(body || {})});
  const answer = await r.json();
  $("answer").textContent = answer.accepted ? `✔ ${action}` + (answer.event ? ` #${answer.event}` : "")
    + (answer.events ? ` #${answer.events.join(", #")}` : "")
    : `✘ ${answer.reason}`;
  $("answer").dataset.accepted = String(answer.accepted);
  await refresh();
  return answer;
}

function showParams() {
  const spec = kinds.find((k) => k.kind === $("kind").value);
  const box = $("params"); box.replaceChildren();
  if (!spec) return;
  for (const [name, p] of Object.entries(spec.params)) {
    const label = document.createElement("label"); label.title = p.help;
    const input = document.createElement("input"); input.name = name; input.dataset.param = name;
    input.placeholder = p.required ? name + " *" : name; input.size = 10;
    if (name === "duration") input.value = "30m";
    label.append(name + " ", input); box.append(label, " ");
  }
}

async function refresh() {
  const r = await fetch("/api/teacher/state", {headers: headers()});
  const state = await r.json();
  if (!state.accepted) { $("run-state").textContent = state.reason; return; }
  if (!kinds.length) {
    kinds = state.kinds;
    for (const k of kinds) { const o = document.createElement("option"); o.value = k.kind; o.textContent = k.kind; o.title = k.help; $("kind").append(o); }
    showParams();
  }
  $("run-state").textContent = (state.paused ? "⏸ 已暂停 paused" : "▶ 运行中 running") + ` · ${state.speed ?? "max"}×`;
  const rows = state.injected.map((e) => {
    const tr = document.createElement("tr"); tr.dataset.event = e.id;
    for (const text of [`#${e.id}`, e.kind, e.target, new Date(e.start_ms).toLocaleString("zh-CN"),
                        e.end_ms ? new Date(e.end_ms).toLocaleString("zh-CN") : "…"]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    const td = document.createElement("td"); const b = document.createElement("button");
    b.textContent = "清除 clear"; b.addEventListener("click", () => call("clear", {event: e.id})); td.append(b); tr.append(td);
    return tr;
  });
  $("injected").replaceChildren(...rows);
}

async function targets() {
  const fleet = await (await fetch("/api/fleet")).json();
  for (const site of fleet.sites) for (const line of site.lines) {
    const o = document.createElement("option"); o.value = line.id; o.textContent = `${line.name.zh} ${line.name.en}`; $("target").append(o);
    for (const m of line.machines) {
      const mo = document.createElement("option"); mo.value = m.id; mo.textContent = `  ${m.name.zh} ${m.name.en}`; $("target").append(mo);
    }
  }
}

$("pause").addEventListener("click", () => call("pause"));
$("resume").addEventListener("click", () => call("resume"));
$("set-speed").addEventListener("click", () => call("speed", {speed: Number($("speed").value)}));
$("kind").addEventListener("change", showParams);
$("inject").addEventListener("click", () => {
  const event = {kind: $("kind").value, target: $("target").value};
  for (const input of $("params").querySelectorAll("input")) if (input.value) event[input.dataset.param] = isNaN(input.value) ? input.value : Number(input.value);
  return call("inject", {event});
});
$("load").addEventListener("click", async () => {
  const file = $("scenario-file").files[0];
  if (!file) { $("answer").textContent = "✘ 先选择一个场景文件 choose a scenario file first"; return; }
  return call("scenario", {scenario: await file.text(), name: file.name});
});
$("results").addEventListener("click", async () => {
  const team = $("results-team").value.trim();
  const r = await fetch("/api/teacher/results.csv" + (team ? "?team=" + encodeURIComponent(team) : ""), {headers: headers()});
  if (!r.ok) { $("answer").textContent = `✘ ${(await r.json()).reason}`; return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob()); a.download = (team ? team + "-" : "") + "exercise-results.csv"; a.click();
  URL.revokeObjectURL(a.href);
});
$("password").addEventListener("change", refresh);
targets().then(refresh);
setInterval(refresh, 3000);
