// pumpctl ui: the two SVG charts (no library): the programme over its cycle, delivery over time.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // a "nice" axis top and step for values up to `max`
  function niceAxis(max, ticks) {
    if (!(max > 0)) max = 1;
    const raw = max / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    return { top: Math.ceil(max / step - 1e-9) * step, step };
  }

  function fmtNum(v) {
    if (v === 0) return "0";
    if (Math.abs(v) >= 100) return v.toFixed(0);
    if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, "");
    return v.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
  }

  function frame(svg) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const w = Math.max(260, svg.clientWidth || svg.parentNode.clientWidth || 400);
    const h = Number(svg.getAttribute("height")) || 200;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    return { w, h };
  }

  function yGrid(svg, box, axis, side, fmt) {
    for (let v = 0; v <= axis.top + 1e-9; v += axis.step) {
      const y = box.y1 - (v / axis.top) * (box.y1 - box.y0);
      if (side === "left") svg.appendChild(el("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "grid" }));
      const x = side === "left" ? box.x0 - 5 : box.x1 + 5;
      svg.appendChild(el("text", { x, y: y + 4, "text-anchor": side === "left" ? "end" : "start" }, fmt(v)));
    }
  }

  // the programme: basal steps (mcg/day) over the cycle, a running bolus on top, the present moment
  function profile(svg, p) {
    const { w, h } = frame(svg);
    if (!p) return;
    const box = { x0: 46, x1: w - 10, y0: 16, y1: h - 24 };
    const X = (s) => box.x0 + (s / p.cycle_s) * (box.x1 - box.x0);
    const axis = niceAxis(Math.max(p.top_mcg_day * 1.12, 10), 4);
    const Y = (v) => box.y1 - (v / axis.top) * (box.y1 - box.y0);
    yGrid(svg, box, axis, "left", fmtNum);
    svg.appendChild(el("text", { x: box.x0 - 40, y: 10 }, "mcg/day"));
    // x ticks: every 3 h over a day, every day over a week
    const week = p.cycle_s > 86400;
    const tick = week ? 86400 : (box.x1 - box.x0 < 420 ? 6 : 3) * 3600;
    for (let s = 0; s <= p.cycle_s; s += tick) {
      svg.appendChild(el("line", { x1: X(s), x2: X(s), y1: box.y1, y2: box.y1 + 4, class: "axis" }));
      if (s < p.cycle_s || !week) {
        const label = week ? WEEKDAYS[s / 86400] : String(s / 3600).padStart(2, "0") + ":00";
        const x = week ? X(s + 43200) : X(s);
        svg.appendChild(el("text", { x, y: box.y1 + 16, "text-anchor": "middle" }, label));
      }
    }
    // basal steps as a filled step area
    let d = `M${X(0)},${Y(0)}`;
    for (const seg of p.segments) d += ` L${X(seg.start_s)},${Y(seg.dose_mcg_day)} L${X(seg.end_s)},${Y(seg.dose_mcg_day)}`;
    d += ` L${X(p.cycle_s)},${Y(0)} Z`;
    svg.appendChild(el("path", { d, fill: "rgba(31,111,235,.16)", stroke: "#1f6feb", "stroke-width": 2, "stroke-linejoin": "round" }));
    // dose labels on wide enough steps
    for (const seg of p.segments) {
      if (X(seg.end_s) - X(seg.start_s) > 46 && seg.dose_mcg_day > 0) {
        svg.appendChild(el("text", { x: (X(seg.start_s) + X(seg.end_s)) / 2, y: Y(seg.dose_mcg_day) - 5,
          "text-anchor": "middle", style: "fill:#1f6feb;font-weight:600" }, fmtNum(seg.dose_mcg_day)));
      }
    }
    // a running bolus, drawn on top of the basal dose (wrapping at the end of the cycle)
    if (p.bolus) {
      const b = p.bolus;
      const base = Math.max(...p.segments.map((s) => s.dose_mcg_day));
      const parts = [[b.start_s, Math.min(p.cycle_s, b.start_s + b.duration_s)]];
      if (b.start_s + b.duration_s > p.cycle_s) parts.push([0, Math.min(b.start_s, b.start_s + b.duration_s - p.cycle_s)]);
      for (const [a, z] of parts) {
        const width = Math.max(2, X(z) - X(a));
        svg.appendChild(el("rect", { x: X(a), width, y: Y(base + b.dose_mcg_day), height: Y(base) - Y(base + b.dose_mcg_day),
          fill: "rgba(245,158,11,.45)", stroke: "#b45309" }));
      }
      svg.appendChild(el("text", { x: Math.min(X(b.start_s) + 4, box.x1 - 80), y: Y(base + b.dose_mcg_day) - 4,
        style: "fill:#b45309;font-weight:600" }, `${b.kind} bolus`));
    }
    // the present moment
    const xn = X(p.now_s);
    svg.appendChild(el("line", { x1: xn, x2: xn, y1: box.y0 - 4, y2: box.y1, class: "now" }));
    const right = xn > box.x1 - 70;
    svg.appendChild(el("text", { x: right ? xn - 4 : xn + 4, y: box.y0 + 6, class: "nowlbl",
      "text-anchor": right ? "end" : "start" }, "now " + p.now_label));
    svg.appendChild(el("line", { x1: box.x0, x2: box.x1, y1: box.y1, y2: box.y1, class: "axis" }));
  }

  function timeLabel(t, span) {
    const d = new Date(Date.UTC(2024, 0, 1) + t * 1000);
    const hm = d.toISOString().slice(11, 16);
    if (span <= 2 * 86400) return hm;
    return d.toISOString().slice(5, 10) + (span <= 8 * 86400 ? " " + hm : "");
  }

  // delivery over time: delivered (and the mock's true volume) on the left axis, the rate on the right
  function delivery(svg, rows, showTrue) {
    const { w, h } = frame(svg);
    const box = { x0: 50, x1: w - 46, y0: 14, y1: h - 24 };
    if (!rows.length) {
      svg.appendChild(el("text", { x: w / 2, y: h / 2, "text-anchor": "middle" }, "waiting for samples"));
      return;
    }
    const t0 = rows[0][0];
    const t1 = Math.max(rows[rows.length - 1][0], t0 + 60);
    const X = (t) => box.x0 + ((t - t0) / (t1 - t0)) * (box.x1 - box.x0);
    let vmax = 0, rmax = 0;
    for (const r of rows) { vmax = Math.max(vmax, r[1], r[3] || 0); rmax = Math.max(rmax, r[2]); }
    const va = niceAxis(vmax * 1.05 || 1, 4);
    const ra = niceAxis(rmax * 1.2 || 1, 4);
    const Y = (v) => box.y1 - (v / va.top) * (box.y1 - box.y0);
    const R = (v) => box.y1 - (v / ra.top) * (box.y1 - box.y0);
    yGrid(svg, box, va, "left", fmtNum);
    yGrid(svg, box, ra, "right", fmtNum);
    svg.appendChild(el("text", { x: box.x0 - 46, y: 8 }, "uL"));
    svg.appendChild(el("text", { x: box.x1 + 4, y: 8 }, "uL/h"));
    const span = t1 - t0;
    const n = Math.max(2, Math.min(6, Math.floor((box.x1 - box.x0) / 90)));
    for (let i = 0; i <= n; i++) {
      const t = t0 + (span * i) / n;
      svg.appendChild(el("line", { x1: X(t), x2: X(t), y1: box.y1, y2: box.y1 + 4, class: "axis" }));
      svg.appendChild(el("text", { x: X(t), y: box.y1 + 16, "text-anchor": i === 0 ? "start" : i === n ? "end" : "middle" },
        timeLabel(t, span)));
    }
    // rate: a step line (it holds until the next sample)
    let d = "";
    rows.forEach((r, i) => {
      d += i === 0 ? `M${X(r[0])},${R(r[2])}` : ` L${X(r[0])},${R(rows[i - 1][2])} L${X(r[0])},${R(r[2])}`;
    });
    svg.appendChild(el("path", { d, fill: "none", stroke: "#0f9d76", "stroke-width": 1.6, opacity: 0.9 }));
    svg.appendChild(el("polyline", { points: rows.map((r) => `${X(r[0])},${Y(r[1])}`).join(" "), fill: "none",
      stroke: "#1f6feb", "stroke-width": 3, opacity: 0.85 }));
    if (showTrue) {     // on top, dashed: where the two agree the firmware's count shows through the gaps
      const pts = rows.filter((r) => r[3] !== null).map((r) => `${X(r[0])},${Y(r[3])}`);
      if (pts.length) svg.appendChild(el("polyline", { points: pts.join(" "), fill: "none", stroke: "#c026d3",
        "stroke-width": 2.2, "stroke-dasharray": "2 6", "stroke-linecap": "round" }));
    }
    svg.appendChild(el("line", { x1: box.x0, x2: box.x1, y1: box.y1, y2: box.y1, class: "axis" }));
  }

  return { profile, delivery };
})();
