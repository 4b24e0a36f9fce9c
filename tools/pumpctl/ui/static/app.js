// pumpctl ui: the page. State arrives on a websocket (a message after every poll of the pump); commands
// go out as JSON POSTs. A change of therapy is reviewed (present vs new) and applied only on confirm.
"use strict";

const $ = (sel) => document.querySelector(sel);
const STALE_S = 5;            // no message for this long: the page says so (never a frozen picture)

const page = {
  ws: null, lastMsg: 0, pump: null, link: null, busy: {}, events: [], history: [],
  types: new Set(), wsDown: null, alert: null, review: null, library: {}, seenEvents: 0,
};

// --- formatting -------------------------------------------------------------------------------------------
const fix = (v, n) => (v === null || v === undefined || Number.isNaN(v) ? "-" : Number(v).toFixed(n));
function dose(v) { return v >= 100 ? fix(v, 0) : v >= 10 ? fix(v, 1) : fix(v, 2); }
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function dateOf(t) { return new Date(Date.UTC(2024, 0, 1) + t * 1000).toISOString().slice(0, 16).replace("T", " "); }
function span(s) {
  s = Math.round(s);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

// --- banners and toasts ------------------------------------------------------------------------------------
function banner(kind, text, detail, id, closable) {
  const div = document.createElement("div");
  div.className = "banner " + kind;
  if (id) div.id = id;
  div.innerHTML = `<span class="msg">${esc(text)}${detail ? `<span class="detail">${esc(detail)}</span>` : ""}</span>`;
  if (closable) {
    const x = document.createElement("button");
    x.className = "x"; x.textContent = "×"; x.title = "dismiss";
    x.onclick = () => { page.alert = null; renderBanners(); };
    div.appendChild(x);
  }
  return div;
}

function renderBanners() {
  const box = $("#banners");
  box.innerHTML = "";
  const now = Date.now() / 1000;
  if (page.wsDown) {
    box.appendChild(banner("crit", "The dashboard server is not reachable: retrying.", page.wsDown, "banner-server"));
  } else if (page.lastMsg && now - page.lastMsg > STALE_S) {
    box.appendChild(banner("warn", `No update for ${Math.round(now - page.lastMsg)} s: what you see may be old.`, "", "banner-stale"));
  }
  const link = page.link;
  if (link && !link.ok) {
    if (link.error) {
      box.appendChild(banner("crit", "Link to the pump lost: the values below are the last ones read.",
        link.error + (link.reconnect ? "\nTrying again every few seconds." : "\nRestart pumpctl ui to start a new simulator."), "banner-link"));
    } else {
      box.appendChild(banner("info", "Connecting to the pump…", "", "banner-link"));
    }
  }
  if (page.pollError) box.appendChild(banner("crit", "The pump refused a status request.", page.pollError, "banner-poll"));
  const waiting = page.busy && page.busy.waiting;
  if (waiting) box.appendChild(banner("warn", `Waiting ${waiting.s} s for the pump's reply to '${waiting.what}'.`, "", "banner-wait"));
  const p = page.pump;
  if (p && p.safe_state) box.appendChild(banner("crit", "SAFE STATE: internal fault, the motor is stopped.", "", "banner-safe"));
  if (p && p.stopped_by.length) {
    box.appendChild(banner("crit", "Delivery stopped: " + p.stopped_by.join(", "),
      "The pump resumes by itself when the cause is gone (see the alarms).", "banner-stopped"));
  }
  const run = page.busy && page.busy.run;
  if (run) {
    const b = banner("info", `Simulating to ${dateOf(run.until_s)} UTC…`, "", "banner-run");
    const bar = document.createElement("div");
    bar.className = "progress";
    bar.innerHTML = `<div style="width:${Math.round(run.fraction * 100)}%"></div>`;
    b.querySelector(".msg").appendChild(bar);
    box.appendChild(b);
  }
  if (page.alert) box.appendChild(banner(page.alert.kind, page.alert.text, page.alert.detail, "banner-alert", true));
}

function toast(text, kind) {
  const t = document.createElement("div");
  t.className = "toast " + (kind || "");
  t.textContent = text;
  const box = $("#toasts");
  box.appendChild(t);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => t.remove(), 4000);
}

function alertFrom(what, reply) {
  const code = reply.error || "ERROR";
  const detail = [reply.msg, reply.hint].filter(Boolean).join("\n");
  page.alert = { kind: code === "LINK" ? "crit" : "warn", text: `${what} refused: ${code}`, detail };
  if (code === "LINK") page.alert.text = `${what} failed: the link to the pump is down`;
  if (code === "BAD_INPUT") page.alert.text = `${what}: check the input`;
  renderBanners();
}

// --- the server ----------------------------------------------------------------------------------------------
async function post(path, body) {
  try {
    const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    let data;
    try { data = await res.json(); } catch (e) { data = { ok: false, error: "HTTP " + res.status, msg: await res.text() }; }
    if (!res.ok && data.ok !== false) data = { ok: false, error: "HTTP " + res.status, msg: JSON.stringify(data) };
    return data;
  } catch (e) {
    return { ok: false, error: "LINK", msg: "the dashboard server did not answer: " + e.message };
  }
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  page.ws = ws;
  ws.onopen = () => { page.wsDown = null; renderBanners(); };
  ws.onmessage = (ev) => { page.lastMsg = Date.now() / 1000; handle(JSON.parse(ev.data)); };
  ws.onclose = () => {
    page.wsDown = "The page keeps the last values it received; it reconnects by itself.";
    page.ws = null;
    renderConn();
    renderBanners();
    setTimeout(connect, 2000);
  };
}

function handle(msg) {
  page.link = msg.link;
  page.busy = msg.busy || {};
  if (msg.type === "state") {
    page.pump = msg.pump;
    page.pollError = msg.poll_error;
    if (msg.events_reset) { page.events = []; $("#log tbody").innerHTML = ""; }
    if (msg.history_reset) page.history = [];
    page.history.push(...msg.history);
    addEvents(msg.events, msg.log_dropped);
    for (const n of msg.notices || []) {
      if (n.notice === "alarm_raise") toast(`alarm: ${n.code} (${n.tier})`, n.tier === "critical" ? "critical" : "");
      else if (n.notice === "alarm_clear") toast(`alarm cleared: ${n.code}`);
    }
    render();
  }
  renderConn();
  renderBanners();
}

// --- rendering ------------------------------------------------------------------------------------------------
function renderConn() {
  const conn = $("#conn");
  const link = page.link;
  const stale = page.wsDown || (page.lastMsg && Date.now() / 1000 - page.lastMsg > STALE_S);
  conn.className = "pill " + (stale ? "stale" : link && link.ok ? "live" : "down");
  conn.textContent = page.wsDown ? "server lost" : stale ? "stale" : link && link.ok ? "live" : link && link.error ? "link down" : "connecting";
  if (link) {
    $("#where").textContent = link.where + (link.info ? `  ·  ${link.info.board} ${link.info.serial || ""}  ·  firmware ${link.info.firmware}` : "")
      + (link.roles.length ? "  ·  keys: " + link.roles.join(", ") : "  ·  no keys: commands will be refused");
    const kind = $("#kind");
    kind.classList.remove("hidden");
    kind.textContent = link.sim ? "simulator" : "board";
  }
}

function render() {
  const p = page.pump;
  const isSim = !!(page.link && page.link.sim);
  $("#card-sim").classList.toggle("hidden", !isSim);
  document.body.classList.toggle("is-sim", isSim);
  document.querySelectorAll(".simonly").forEach((n) => n.classList.toggle("hidden", !isSim));
  if (!p) return;
  $("#clock").textContent = p.date;
  const th = p.therapy;
  $("#dose").textContent = dose(th.dose_mcg_day);
  $("#rate").textContent = fix(th.rate_ul_h, 3);
  $("#mode").textContent = th.text;
  $("#mode-text").textContent = th.mode || "";
  $("#drug").textContent = th.drug ? `${th.drug}, ${th.conc_mcg_ml} mcg/mL` : "none (refill first)";
  $("#bolus").textContent = th.bolus
    ? `${th.bolus.kind}: ${dose(th.bolus.dose_mcg)} mcg, ${Math.round((1 - th.bolus.left_fraction) * 100)} % given, ends ${th.bolus.end_date}`
    : th.bridge_left_ul > 0 ? `bridge: ${fix(th.bridge_left_ul, 1)} uL of the old concentration left` : "none";
  $("#delivered").textContent = `${fix(p.delivered.ul, 2)} uL (${dose(p.delivered.mcg)} mcg)`;

  const prof = p.profile;
  $("#profile-cycle").textContent = `over a ${prof.cycle}, now ${prof.now_label}`;
  Charts.profile($("#profile-chart"), prof);
  $("#profile-note").textContent = prof.bridge_left_ul > 0
    ? `Bridge: ${fix(prof.bridge_left_ul, 1)} uL of the old concentration still in the catheter.` : "";

  const r = p.reservoir;
  const gauge = $("#gauge");
  const frac = r.capacity_ml ? Math.min(1, r.ml / r.capacity_ml) : 0;
  gauge.querySelector(".fill").style.width = (frac * 100).toFixed(1) + "%";
  gauge.querySelector(".mark").style.left = (r.capacity_ml ? (r.low_ml / r.capacity_ml) * 100 : 0).toFixed(1) + "%";
  gauge.classList.toggle("low", r.low && r.ml > 0);
  gauge.classList.toggle("empty", r.ml <= 0);
  $("#gauge-val").textContent = fix(r.ml, 2) + " mL";
  $("#reservoir").textContent = `${fix(r.ml, 3)} mL of ${fix(r.capacity_ml, 1)} mL`;
  $("#low").textContent = `${fix(r.low_ml, 1)} mL` + (r.low ? "  (reached)" : "");
  $("#refill-due").textContent = p.refill_due ? `${p.refill_due.date} (${p.refill_due.left})` : "-";
  $("#refill-due").classList.toggle("late", !!(p.refill_due && p.refill_due.left === "overdue"));
  $("#battery").textContent = p.battery.mv ? `${p.battery.mv} mV` : "-";
  $("#eri").textContent = p.battery.eri_due ? `${p.battery.eri_due.date} (${p.battery.eri_due.left})` : "not predicted";

  const list = $("#alarms");
  list.innerHTML = p.alarms.length ? "" : '<li class="none">none</li>';
  for (const a of p.alarms) {
    const li = document.createElement("li");
    li.className = a.tier;
    li.dataset.code = a.code;
    li.innerHTML = `<span class="dot"></span><span><span class="code">${esc(a.code)}</span><span class="tag ${a.tier}">${esc(a.tier)}</span>`
      + `${a.silenced ? '<span class="tag">silenced</span>' : ""} <span class="muted">since ${esc(a.since || "-")}</span></span>`
      + `<span class="tone">tone: ${esc(a.tone)}</span>`;
    list.appendChild(li);
  }
  $("#ack").disabled = !p.alarms.length;
  $("#ack").classList.toggle("primary", p.alarms.some((a) => !a.silenced));

  const h = page.history;
  if (h.length) $("#delivery-span").textContent = `${dateOf(h[0][0])} → ${dateOf(h[h.length - 1][0])}`;
  Charts.delivery($("#delivery-chart"), h, isSim);

  if (p.sim) {
    $("#sim-time").textContent = "virtual time " + span(p.sim.elapsed_s);
    $("#sim-counted").textContent = fix(p.sim.counted_ul, 2) + " uL";
    $("#sim-moved").textContent = fix(p.sim.moved_ul, 2) + " uL";
    const rel = p.sim.moved_ul ? (p.sim.diff_ul / p.sim.moved_ul) * 100 : 0;
    $("#sim-diff").textContent = `firmware − true: ${fix(p.sim.diff_ul, 2)} uL (${rel >= 0 ? "+" : ""}${fix(rel, 2)} %)`
      + `; mock reservoir ${fix(p.sim.reservoir_ul / 1000, 3)} mL, ${p.sim.pulses} pulses`;
    $("#sim-faults").textContent = p.sim.faults.length ? "mock faults on: " + p.sim.faults.join(", ") : "";
  }
  const running = !!(page.busy && page.busy.run);
  document.querySelectorAll("[data-run]").forEach((b) => { b.disabled = running; });
}

// --- the event log: a table that grows (newest first), filtered by text and type --------------------------------
function eventText(e) {
  if (e.text !== undefined) return e.text;
  const d = e.data;
  if (d === null || d === undefined) return "";
  if (typeof d !== "object") return String(d);
  return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : v}`).join(", ");
}

function addEvents(events, dropped) {
  const body = $("#log tbody");
  const fresh = page.seenEvents > 0;
  for (const e of events) {
    page.events.push(e);
    if (!page.types.has(e.type)) {
      page.types.add(e.type);
      const opt = document.createElement("option");
      opt.value = opt.textContent = e.type;
      const sel = $("#log-type");
      const after = [...sel.options].slice(1).find((o) => o.value > e.type);
      sel.insertBefore(opt, after || null);
    }
    const tr = document.createElement("tr");
    tr.className = e.type + (fresh ? " fresh" : "");
    tr.dataset.type = e.type;
    tr.innerHTML = `<td class="mono">${e.seq}</td><td class="date mono">${dateOf(e.t_s)}</td><td class="type">${esc(e.type)}</td>`
      + `<td class="data">${esc(eventText(e))}</td>`;
    tr.dataset.text = (e.type + " " + eventText(e)).toLowerCase();
    applyFilter(tr);
    body.insertBefore(tr, body.firstChild);
  }
  page.seenEvents += events.length;
  $("#log-count").textContent = `${page.events.length} records` + (dropped ? `, ${dropped} dropped by the pump` : "");
}

function applyFilter(tr) {
  const text = $("#log-filter").value.trim().toLowerCase();
  const type = $("#log-type").value;
  tr.classList.toggle("hidden", (type && tr.dataset.type !== type) || (text && !tr.dataset.text.includes(text)));
}

// --- commands: review (present vs new), then confirm ----------------------------------------------------------------
function stepRow(start, doseValue) {
  const div = document.createElement("div");
  div.className = "step";
  div.innerHTML = `<input placeholder="start 08:00" aria-label="step start" value="${esc(start || "")}">`
    + `<input placeholder="mcg/day" inputmode="decimal" aria-label="step dose (mcg/day)" value="${esc(doseValue || "")}">`
    + '<button type="button" title="remove this step">×</button>';
  div.querySelector("button").onclick = () => div.remove();
  $("#p-steps").appendChild(div);
}

function formArgs(form) {
  const kind = form.dataset.kind;
  const args = {};
  for (const input of form.querySelectorAll("[name]")) {
    if (input.closest("[data-for]") && input.closest("[data-for]").classList.contains("hidden")) continue;
    if (input.type === "checkbox") args[input.name] = input.checked;
    else if (input.value.trim() !== "") args[input.name] = input.value.trim();
  }
  if (kind === "program" && args.mode === "flex") {
    args.steps = [...document.querySelectorAll("#p-steps .step")].map((row) => {
      const [start, value] = row.querySelectorAll("input");
      return { start: start.value.trim(), dose_mcg_day: value.value.trim() };
    });
  }
  return args;
}

async function review(kind, args) {
  page.review = { kind, args };
  const dlg = $("#review");
  $("#review-title").textContent = "Review: " + kind;
  $("#review-error").classList.add("hidden");
  $("#review-table tbody").innerHTML = '<tr><td colspan="3" class="muted">asking the pump…</td></tr>';
  $("#review-confirm").disabled = true;
  if (!dlg.open) dlg.showModal();
  const reply = await post("/api/review", { kind, args });
  showReview(reply);
}

function showReview(reply) {
  const soft = $("#review-soft");
  const tbody = $("#review-table tbody");
  if (!reply.ok) {
    if (String(reply.error).startsWith("E_SOFT_LIMIT")) {
      soft.classList.remove("hidden");
      $("#review-soft-msg").textContent = reply.msg.replace(/: resend with .*$/, "");
      $("#review-soft-ok").checked = false;
      tbody.innerHTML = '<tr><td colspan="3" class="muted">tick the box to review a dose above the soft limit</td></tr>';
    } else {
      tbody.innerHTML = "";
      const err = $("#review-error");
      err.textContent = `${reply.error}: ${reply.msg || ""}${reply.hint ? " — " + reply.hint : ""}`;
      err.classList.remove("hidden");
    }
    $("#review-confirm").disabled = true;
    return;
  }
  page.review.token = reply.token;
  tbody.innerHTML = "";
  for (const [field, before, after] of reply.rows) {
    const tr = document.createElement("tr");
    const changed = String(before) !== String(after);
    tr.innerHTML = `<td>${esc(field)}</td><td>${esc(before)}</td><td class="${changed ? "changed" : ""}">${esc(after)}</td>`;
    tbody.appendChild(tr);
  }
  $("#review-confirm").disabled = false;
}

async function confirmReview() {
  const r = page.review;
  if (!r || !r.token) return;
  $("#review-confirm").disabled = true;
  const reply = await post("/api/apply", { token: r.token });
  r.token = null;
  if (reply.ok) {
    $("#review").close();
    page.alert = null;
    toast(`${r.kind} applied` + (reply.warning ? ": " + reply.warning : ""));
    renderBanners();
    return;
  }
  if (String(reply.error).startsWith("E_SOFT_LIMIT")) {       // a bolus: the pump asks for the limit's confirm
    showReview(reply);
    return;
  }
  $("#review").close();
  alertFrom(r.kind, reply);
}

async function simple(path, body, what) {
  const reply = await post(path, body);
  if (!reply.ok) alertFrom(what, reply);
  else if (what === "ack") toast("acknowledged: " + (reply.acknowledged || []).join(", "));
  return reply;
}

// --- wiring -------------------------------------------------------------------------------------------------------
function setMode() {
  const mode = $("#p-mode").value;
  document.querySelectorAll("#form-program [data-for]").forEach((n) => n.classList.toggle("hidden", n.dataset.for !== mode));
}

function fillConcentrations() {
  const drug = $("#r-drug").value;
  const conc = $("#r-conc");
  conc.innerHTML = "";
  for (const c of (page.library[drug] || {}).conc || []) {
    const opt = document.createElement("option");
    opt.value = c; opt.textContent = c + " mcg/mL";
    conc.appendChild(opt);
  }
}

async function loadLibrary() {
  try {
    const res = await fetch("/api/library");
    page.library = await res.json();
  } catch (e) { page.library = {}; }
  const sel = $("#r-drug");
  for (const name of Object.keys(page.library)) {
    const opt = document.createElement("option");
    opt.value = opt.textContent = name;
    sel.appendChild(opt);
  }
  fillConcentrations();
}

function init() {
  document.querySelectorAll(".tabs button").forEach((b) => {
    b.onclick = () => {
      document.querySelectorAll(".tabs button").forEach((x) => x.classList.toggle("on", x === b));
      document.querySelectorAll("#card-commands form").forEach((f) => f.classList.toggle("hidden", f.dataset.kind !== b.dataset.tab));
    };
  });
  document.querySelectorAll("#card-commands form").forEach((form) => {
    form.onsubmit = (ev) => { ev.preventDefault(); review(form.dataset.kind, formArgs(form)); };
  });
  $("#p-mode").onchange = setMode;
  $("#p-add").onclick = () => stepRow("", "");
  stepRow("00:00", ""); stepRow("08:00", "");
  setMode();
  $("#r-drug").onchange = fillConcentrations;
  $("#review-cancel").onclick = () => { page.review = null; $("#review").close(); };
  $("#review-confirm").onclick = confirmReview;
  $("#review-soft-ok").onchange = (ev) => {
    if (!ev.target.checked || !page.review) return;
    $("#review-soft").classList.add("hidden");
    review(page.review.kind, Object.assign({}, page.review.args, { confirm_limit: true }));
  };
  $("#ack").onclick = () => simple("/api/ack", {}, "ack");
  document.querySelectorAll("[data-run]").forEach((b) => {
    b.onclick = () => simple("/api/sim/run", { seconds: Number(b.dataset.run) }, "run " + b.textContent);
  });
  document.querySelectorAll("[data-fault]").forEach((b) => {
    b.onclick = async () => {
      const reply = await simple("/api/sim/fault", { fault: b.dataset.fault }, "fault " + b.textContent);
      if (reply.ok) toast(b.dataset.fault === "clear" ? "mock faults cleared" : `fault injected: ${b.textContent} (the firmware must notice it)`);
    };
  });
  const refilter = () => document.querySelectorAll("#log tbody tr").forEach(applyFilter);
  $("#log-filter").oninput = refilter;
  $("#log-type").onchange = refilter;
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 150); });
  setInterval(() => { renderConn(); renderBanners(); }, 1000);
  loadLibrary();
  connect();
}

init();
