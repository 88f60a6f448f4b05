// The exercises page: a team's sheet from /api/exercises/<team>, each exercise answered once and marked against
// the truth, the worked solution shown after. Text is set with textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
let team = null;

function bi(text, tag = "span") {
  const out = document.createElement(tag);
  const a = document.createElement("span"); a.lang = "zh"; a.textContent = text.zh;
  const b = document.createElement("span"); b.lang = "en"; b.textContent = text.en;
  out.append(a, " ", b);
  return out;
}

function table(t, number) {
  const box = document.createElement("div"); box.className = "data";
  const h = bi(t.title, "h4");
  const a = document.createElement("a");
  a.href = `/api/exercises/${encodeURIComponent(team)}/${number}/${t.file}`; a.download = t.file;
  a.append(bi({zh: "下载 CSV", en: "download CSV"}));
  h.append(" ", a); box.append(h);
  const tab = document.createElement("table"); tab.className = "rates";
  const head = document.createElement("tr");
  for (const c of t.columns) head.append(bi(c, "th"));
  tab.append(head);
  for (const row of t.rows) {
    const tr = document.createElement("tr");
    for (const v of row) { const td = document.createElement("td"); td.textContent = String(v); tr.append(td); }
    tab.append(tr);
  }
  box.append(tab);
  return box;
}

function field(f) {
  const label = document.createElement("label"); label.className = "field"; label.dataset.field = f.key;
  label.append(bi(f.label), " ");
  let input;
  if (f.answer === "choice") {
    input = document.createElement("select");
    const none = document.createElement("option"); none.value = ""; none.textContent = "—"; input.append(none);
    for (const c of f.choices) {
      const o = document.createElement("option"); o.value = c.value; o.textContent = `${c.value} · ${c.zh} ${c.en}`;
      input.append(o);
    }
  } else {
    input = document.createElement("input"); input.inputMode = "decimal"; input.size = 8;
  }
  input.name = f.key;
  label.append(input);
  if (f.answer === "percent") label.append(" %");
  const tol = bi(f.tolerance, "small"); tol.className = "muted"; label.append(" ", tol);
  return label;
}

function showMarked(card, marked) {
  card.querySelectorAll("input, select, button.submit").forEach((el) => { el.disabled = true; });
  const out = card.querySelector(".marked"); out.replaceChildren();
  out.dataset.correct = String(marked.correct); out.dataset.fields = String(marked.fields);
  const score = document.createElement("p"); score.className = "score";
  score.append(bi({zh: `得分 ${marked.correct} / ${marked.fields}`, en: `score ${marked.correct} / ${marked.fields}`}));
  out.append(score);
  const list = document.createElement("ul");
  for (const m of marked.marks) {
    const li = document.createElement("li"); li.dataset.field = m.key; li.dataset.correct = String(m.correct);
    li.className = m.correct ? "met" : "short";
    li.append(`${m.correct ? "✔" : "✘"} ${m.key}: ${m.given || "—"} → `,
              bi({zh: `正确答案 ${m.expected}`, en: `the truth ${m.expected}`}));
    if (m.note) li.append(" (", bi(m.note), ")");
    list.append(li);
  }
  out.append(list);
  const sol = document.createElement("ol"); sol.className = "solution";
  out.append(bi({zh: "解题过程", en: "Worked solution"}, "h4"), sol);
  for (const step of marked.solution) sol.append(bi(step, "li"));
}

function card(e) {
  const c = document.createElement("section"); c.className = "line exercise"; c.dataset.exercise = e.number;
  c.dataset.kind = e.kind;
  const h = bi({zh: `${e.number}. ${e.title.zh}`, en: e.title.en}, "h3"); c.append(h, bi(e.question, "p"));
  for (const t of e.tables) c.append(table(t, e.number));
  const form = document.createElement("form");
  for (const f of e.fields) form.append(field(f), " ");
  const submit = document.createElement("button"); submit.type = "submit"; submit.className = "submit";
  submit.append(bi({zh: "提交", en: "submit"})); form.append(submit);
  const problem = document.createElement("p"); problem.className = "short";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const answers = {};
    for (const el of form.querySelectorAll("input, select")) answers[el.name] = el.value;
    const r = await fetch(`/api/exercises/${encodeURIComponent(team)}/${e.number}`,
                          {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({answers})});
    const answer = await r.json();
    if (!answer.accepted) { problem.textContent = answer.reason; return; }
    problem.textContent = "";
    showMarked(c, answer);
    score();
  });
  c.append(form, problem);
  const marked = document.createElement("div"); marked.className = "marked"; c.append(marked);
  if (e.marked) showMarked(c, e.marked);
  return c;
}

function score() {
  let right = 0, all = 0, done = 0;
  for (const m of document.querySelectorAll(".marked[data-fields]")) {
    right += Number(m.dataset.correct); all += Number(m.dataset.fields); done += 1;
  }
  $("score").replaceChildren(bi({zh: `队 ${team}：已答 ${done} 题，得分 ${right} / ${all}`,
                                 en: `team ${team}: ${done} answered, score ${right} / ${all}`}));
}

async function join(name) {
  const r = await fetch(`/api/exercises/${encodeURIComponent(name)}`);
  const sheet = await r.json();
  if (!r.ok) { $("problem").textContent = sheet.reason; return; }
  $("problem").textContent = "";
  team = sheet.team;
  history.replaceState(null, "", `?team=${encodeURIComponent(team)}`);
  $("exercises").replaceChildren(...sheet.exercises.map(card));
  score();
}

$("join").addEventListener("submit", (ev) => { ev.preventDefault(); join($("team").value); });
$("language").addEventListener("change", (ev) => { document.body.className = "lang-" + ev.target.value; });
const given = new URLSearchParams(location.search).get("team");
if (given) { $("team").value = given; join(given); }
