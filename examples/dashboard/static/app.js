// TitanLB dashboard: polls GET /api/state and draws it; the slider and the
// switches POST their changes. No libraries: the ring and the charts are
// inline SVG built here.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
// Backends beyond 101-103 (blue, indigo, purple in style.css) take these.
const PALETTE = ["#3b82f6", "#6366f1", "#a855f7", "#14b8a6", "#f59e0b", "#ec4899"];

const el = (id) => document.getElementById(id);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

const ui = {
  state: null,        // last state from the server
  dragging: {},       // slider id -> true while the pointer holds it
  pending: 0,         // POSTs in flight
  timers: {},
};
window.dashboard = ui; // for debugging and the browser test

function balancerColor(name) {
  return css("--" + name) || "#ccc";
}

function backendColor(id, index) {
  return css("--b" + id) || PALETTE[index % PALETTE.length];
}

function svg(tag, attrs, parent) {
  const n = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (parent) parent.appendChild(n);
  return n;
}

function fmt(x, digits) {
  return Number.isFinite(x) ? x.toFixed(digits) : "–";
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function setStatus(text, isError) {
  const s = el("status");
  s.textContent = text;
  s.classList.toggle("error", !!isError);
}

// --- controls -------------------------------------------------------------

function bindSlider(id, field) {
  const input = el(id);
  const out = el(id + "-value");
  const send = async () => {
    clearTimeout(ui.timers[id]);
    ui.timers[id] = null;
    ui.pending++;
    try {
      render(await api("POST", "/api/settings", { [field]: Number(input.value) / 100 }));
    } catch (e) {
      setStatus(e.message, true);
    } finally {
      ui.pending--;
    }
  };
  input.addEventListener("pointerdown", () => { ui.dragging[id] = true; });
  window.addEventListener("pointerup", () => { ui.dragging[id] = false; });
  input.addEventListener("input", () => {
    out.textContent = input.value + "%";
    clearTimeout(ui.timers[id]);
    ui.timers[id] = setTimeout(send, 200);
  });
  input.addEventListener("change", send);
}

function syncSlider(id, share) {
  if (ui.dragging[id] || ui.pending > 0 || ui.timers[id]) return;
  const input = el(id);
  const pct = Math.round(share * 100);
  input.value = pct;
  el(id + "-value").textContent = pct + "%";
}

function renderBackends(st) {
  const box = el("backends");
  if (box.childElementCount !== st.backends.length) {
    box.textContent = "";
    st.backends.forEach((b, i) => {
      const label = document.createElement("label");
      label.className = "switch";
      label.style.setProperty("--c", backendColor(b.id, i));
      label.innerHTML = `<input type="checkbox" id="be-${b.id}" data-backend="${b.id}"><span class="track"></span>` +
        `<span class="name">${b.name}</span><span class="state"></span>`;
      const input = label.querySelector("input");
      input.addEventListener("change", async () => {
        ui.pending++;
        try {
          render(await api("POST", "/api/backends/" + b.id, { up: input.checked }));
        } catch (e) {
          setStatus(e.message, true);
        } finally {
          ui.pending--;
        }
      });
      box.appendChild(label);
    });
  }
  st.backends.forEach((b) => {
    const input = el("be-" + b.id);
    if (ui.pending === 0) input.checked = b.up;
    input.parentElement.querySelector(".state").textContent = b.up ? "up" : "down";
  });
}

// --- cards ------------------------------------------------------------------

function renderCards(st) {
  const box = el("cards");
  if (box.childElementCount !== st.balancers.length) {
    box.textContent = "";
    for (const name of st.balancers) {
      const c = document.createElement("div");
      c.className = "card";
      c.dataset.balancer = name;
      c.style.setProperty("--c", balancerColor(name));
      c.innerHTML = `<h3>${name}</h3>
        <div class="metric big"><span class="k">Reliability</span><span class="v" data-metric="reliability">–</span></div>
        <div class="bar"><div data-bar="reliability"></div></div>
        <div class="metric big"><span class="k">Avg cost (STU)</span><span class="v" data-metric="avg_cost">–</span></div>
        <div class="metric"><span class="k">Fragment accuracy</span><span class="v" data-metric="fragment_accuracy">–</span></div>
        <div class="metric"><span class="k">Latency p99</span><span class="v" data-metric="latency_p99_us">–</span></div>
        <div class="metric"><span class="k">Drops / packets</span><span class="v" data-metric="drops">–</span></div>
        <div class="svc-metrics" data-services></div>
        <p class="left-out" hidden></p>`;
      box.appendChild(c);
    }
  }
  const cur = st.current;
  for (const card of box.children) {
    const why = st.left_out && st.left_out[card.dataset.balancer];
    const note = card.querySelector(".left-out");
    note.hidden = !why;
    note.textContent = why ? "Not in this comparison: " + why + "." : "";
    if (why) card.dataset.leftOut = "1";
    else delete card.dataset.leftOut;
    const f = cur && cur.balancers[card.dataset.balancer];
    if (!f) continue;
    renderServiceMetrics(card.querySelector("[data-services]"), st, f);
    card.dataset.fragmentRate = cur.settings.fragment_rate;
    card.dataset.version = cur.version;
    const set = (k, v) => { card.querySelector(`[data-metric="${k}"]`).textContent = v; };
    set("reliability", fmt(f.reliability, 3));
    set("avg_cost", fmt(f.avg_cost, 1));
    set("fragment_accuracy", f.fragments > 0 ? fmt(f.fragment_accuracy, 3) : "– (none)");
    set("latency_p99_us", fmt(f.latency_p99_us, 1) + " µs");
    set("drops", `${f.drops} / ${f.packets}`);
    card.querySelector('[data-bar="reliability"]').style.width = (100 * f.reliability).toFixed(1) + "%";
  }
}

// renderServiceMetrics lists, under a card, each service's reliability and
// fragment accuracy from the balancer's figures f.
function renderServiceMetrics(box, st, f) {
  const keys = (st.services || []).map((s) => s.key);
  if (box.childElementCount !== keys.length) {
    box.textContent = "";
    for (const k of keys) {
      const m = document.createElement("div");
      m.className = "metric";
      m.innerHTML = `<span class="k"></span><span class="v"></span>`;
      m.querySelector(".k").textContent = k;
      m.querySelector(".v").dataset.serviceMetric = k;
      box.appendChild(m);
    }
  }
  for (const v of box.querySelectorAll("[data-service-metric]")) {
    const sf = f.services && f.services[v.dataset.serviceMetric];
    v.textContent = sf ? fmt(sf.reliability, 3) + (sf.fragments > 0 ? " (acc " + fmt(sf.fragment_accuracy, 2) + ")" : "") : "–";
    v.title = "reliability (fragment accuracy) of " + v.dataset.serviceMetric;
    v.dataset.reliability = sf ? sf.reliability : "";
  }
}

// --- ring -------------------------------------------------------------------

function renderRing(st) {
  const withServices = !!(st.services && st.services.length);
  el("ring").style.display = withServices ? "none" : "";
  el("ring-legend").style.display = withServices ? "none" : "";
  renderServices(st);
  if (withServices) {
    el("ring-caption").textContent = "one ring per service, over its pool";
    return;
  }
  const r = st.ring;
  drawRing(el("ring"), r, st);
  el("ring-caption").textContent =
    `${r.size} slots; slots 0–${r.samples.length - 1} shown as they are` + (r.moved ? ` · last change moved ${(100 * r.moved).toFixed(1)}% of slots` : "");
  ringLegend(el("ring-legend"), r, st, st.backends);
}

// drawRing draws ring view r into the svg g, one rect per run of equal
// owners; it redraws only when the samples changed.
function drawRing(g, r, st) {
  const key = r.samples.join(",");
  if (g.dataset.key !== key) {
    g.dataset.key = key;
    g.textContent = "";
    g.setAttribute("viewBox", `0 0 ${r.samples.length} 48`);
    const colors = {};
    st.backends.forEach((b, i) => { colors[b.id] = backendColor(b.id, i); });
    // One rect per run of equal owners. The samples are slots 0..n-1 of
    // the ring, contiguous, so each rect is a run the ring really has.
    for (let i = 0; i < r.samples.length;) {
      let j = i + 1;
      while (j < r.samples.length && r.samples[j] === r.samples[i]) j++;
      const id = r.samples[i];
      svg("rect", {
        x: i, y: 0, width: j - i, height: 48,
        fill: id ? colors[id] || "#888" : css("--none"),
        "data-backend": id || "none",
      }, g);
      i = j;
    }
  }
}

// ringLegend lists each of backends with its slots in ring view r.
function ringLegend(legend, r, st, backends) {
  legend.textContent = "";
  backends.forEach((b) => {
    const i = st.backends.findIndex((x) => x.id === b.id);
    const n = r.counts[String(b.id)] || 0;
    const s = document.createElement("span");
    s.style.setProperty("--c", backendColor(b.id, i));
    s.dataset.backend = b.id;
    s.innerHTML = `<i></i>${b.name}: <b data-slots="${b.id}">${n}</b> slots (${(100 * n / r.size).toFixed(1)}%)`;
    legend.appendChild(s);
  });
}

// renderServices draws each service: its key, a checkbox per backend for
// its pool (a change POSTs the new pool), its own ring and its slots.
function renderServices(st) {
  const box = el("services");
  const svcs = st.services || [];
  if (box.childElementCount !== svcs.length) {
    box.textContent = "";
    svcs.forEach((svc, k) => {
      const d = document.createElement("div");
      d.className = "service";
      d.dataset.service = svc.key;
      d.innerHTML = `<h3></h3><div class="pool"></div>` +
        `<svg class="ring" data-ring="${k}" viewBox="0 0 1024 48" preserveAspectRatio="none" role="img"></svg><div class="legend"></div>`;
      d.querySelector("h3").textContent = svc.key;
      d.querySelector("svg").setAttribute("aria-label", "Maglev ring of " + svc.key);
      const pool = d.querySelector(".pool");
      st.backends.forEach((b, i) => {
        const label = document.createElement("label");
        label.style.setProperty("--c", backendColor(b.id, i));
        label.innerHTML = `<input type="checkbox" id="pool-${k}-${b.id}" data-pool="${k}" data-backend="${b.id}">${b.name}`;
        const input = label.querySelector("input");
        input.addEventListener("change", async () => {
          const ids = [...pool.querySelectorAll("input:checked")].map((x) => Number(x.dataset.backend));
          ui.pending++;
          try {
            render(await api("POST", "/api/services/" + k, { pool: ids }));
          } catch (e) {
            setStatus(e.message, true);
            input.checked = !input.checked;
          } finally {
            ui.pending--;
          }
        });
        pool.appendChild(label);
      });
      box.appendChild(d);
    });
  }
  svcs.forEach((svc, k) => {
    const d = box.children[k];
    if (ui.pending === 0) {
      for (const input of d.querySelectorAll(".pool input")) input.checked = svc.pool.includes(Number(input.dataset.backend));
    }
    drawRing(d.querySelector("svg"), svc.ring, st);
    ringLegend(d.querySelector(".legend"), svc.ring, st, st.backends.filter((b) => svc.pool.includes(b.id)));
  });
}

// --- charts -----------------------------------------------------------------

// niceCeil rounds v up to 1, 2, 4, 5 or 8 times a power of ten, so that
// four grid lines fall on round numbers.
function niceCeil(v) {
  const e = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 5, 8, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

function renderChart(id, st, metric, fixedMax) {
  const g = el(id);
  g.textContent = "";
  const W = 600, H = 200, L = 40, R = 8, T = 8, B = 20;
  const hist = st.history;
  let max = fixedMax;
  if (!max) {
    max = 0;
    for (const s of hist) for (const n of st.balancers) max = Math.max(max, (s.balancers[n] || {})[metric] || 0);
    max = niceCeil(max > 0 ? max * 1.1 : 1);
  }
  const cap = Math.max(hist.length, 2);
  const x = (i) => L + (W - L - R) * (hist.length < cap ? i / (cap - 1) : i / (hist.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }, g);
    const t = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end", class: "axis" }, g);
    t.textContent = max <= 1.5 ? v.toFixed(2) : v.toFixed(0);
  }
  // fragmentation rate, shaded against the full height
  const step = hist.length > 1 ? x(1) - x(0) : W - L - R;
  if (hist.length) {
    // one step-shaped area, so that neighbouring samples leave no seams
    const base = H - B;
    let d = `M${(x(0) - step / 2).toFixed(1)},${base}`;
    hist.forEach((s, i) => {
      const top = (base - (H - T - B) * s.settings.fragment_rate).toFixed(1);
      d += ` L${(x(i) - step / 2).toFixed(1)},${top} L${(x(i) + step / 2).toFixed(1)},${top}`;
    });
    d += ` L${(x(hist.length - 1) + step / 2).toFixed(1)},${base} Z`;
    svg("path", { d, class: "frag" }, g);
  }
  if (hist.length) {
    const t0 = svg("text", { x: L, y: H - 4, class: "axis" }, g);
    t0.textContent = "tick " + hist[0].tick;
    const t1 = svg("text", { x: W - R, y: H - 4, "text-anchor": "end", class: "axis" }, g);
    t1.textContent = "tick " + hist[hist.length - 1].tick;
  }
  for (const n of st.balancers) {
    const pts = [];
    hist.forEach((s, i) => {
      const f = s.balancers[n];
      if (f) pts.push(`${x(i).toFixed(1)},${y(f[metric]).toFixed(1)}`);
    });
    svg("polyline", { points: pts.join(" "), stroke: balancerColor(n), "data-balancer": n }, g);
  }
}

function renderLegend(st) {
  const legend = el("chart-legend");
  if (legend.childElementCount) return;
  for (const n of st.balancers) {
    const s = document.createElement("span");
    s.style.setProperty("--c", balancerColor(n));
    s.innerHTML = `<i></i>${n}`;
    legend.appendChild(s);
  }
}

// --- state ------------------------------------------------------------------

function render(st) {
  ui.state = st;
  syncSlider("frag", st.settings.fragment_rate);
  syncSlider("reorder", st.settings.reorder);
  renderBackends(st);
  renderCards(st);
  renderRing(st);
  renderChart("chart-rel", st, "reliability", 1);
  renderChart("chart-cost", st, "avg_cost", 0);
  renderLegend(st);
  el("scenario").textContent =
    `Each tick simulates ${st.config.flows} flows for ${st.config.duration_ms} ms through each balancer, every ${st.config.interval_ms / 1000} s.`;
  if (st.error) setStatus("simulation error: " + st.error, true);
  else if (!st.current) setStatus("waiting for the first tick…");
  else if (st.current.version !== st.version) setStatus("simulating the new settings…");
  else setStatus(`tick ${st.current.tick} · ${st.current.wall_ms.toFixed(0)} ms wall time`);
}

async function poll() {
  try {
    render(await api("GET", "/api/state"));
  } catch (e) {
    setStatus("server unreachable: " + e.message, true);
  }
  setTimeout(poll, POLL_MS);
}

bindSlider("frag", "fragment_rate");
bindSlider("reorder", "reorder");
poll();
