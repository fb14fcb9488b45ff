// shelf web page: small vanilla JS over the JSON API. Every view draws from one API call.
"use strict";
const shelf = (() => {
  const $ = (sel) => document.querySelector(sel);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  function shopper() {
    let id = localStorage.getItem("shelf.shopper");
    if (!id) {
      id = "guest-" + Math.random().toString(36).slice(2, 10);
      localStorage.setItem("shelf.shopper", id);
    }
    return id;
  }

  function initShopper() {
    const input = $("#shopper");
    if (!input) return;
    input.value = shopper();
    input.addEventListener("change", () => {
      localStorage.setItem("shelf.shopper", input.value.trim() || shopper());
      document.dispatchEvent(new Event("shopper-changed"));
    });
  }

  // The page's search-scope key (safe to embed): every API call carries it. An admin signed in
  // through the login form also has an HttpOnly cookie, which wins on reads.
  const pageKey = document.querySelector('meta[name="shelf-key"]')?.content;

  async function api(path, options = {}) {
    const headers = {...(options.headers || {})};
    if (pageKey && document.body.dataset.page !== "admin") headers.authorization = `Bearer ${pageKey}`;
    const response = await fetch(path, {...options, headers});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = body.error ? body.error.message : response.statusText;
      throw new Error(message);
    }
    return body;
  }

  async function postEvent(type, itemId) {
    const event = {user_id: shopper(), item_id: itemId, type, timestamp: Date.now()};
    return api("/events", {method: "POST", headers: {"content-type": "application/json"},
                           body: JSON.stringify({events: [event]})});
  }

  function setTwin(path) {
    const twin = $("#twin");
    if (twin) { twin.href = path; twin.querySelector("code").textContent = path; }
  }

  function itemRow(hit) {
    const price = hit.price != null ? ` · $${Number(hit.price).toFixed(2)}` : "";
    const reason = hit.reason ? `<span class="reason">${esc(hit.reason)}</span>` : "";
    return `<li class="hit" data-item="${esc(hit.item_id)}">
      <a class="title" href="/product/${encodeURIComponent(hit.item_id)}">${esc(hit.title || hit.item_id)}</a>
      <span class="muted">${esc(hit.brand || "")}${price}</span>${reason}</li>`;
  }

  function fillList(sel, items, empty) {
    const list = $(sel);
    list.innerHTML = items && items.length ? items.map(itemRow).join("") : `<li class="muted">${esc(empty)}</li>`;
  }

  // -- search ---------------------------------------------------------------------------
  // A facet's name says which filter of GET /search it sets.
  function addFilter(params, facet, value) {
    if (facet === "understand" || facet === "brand" || facet === "available") params.set(facet, value);
    else if (facet.startsWith("category")) params.set("category", value);
    else if (facet === "price") {
      const [low, high] = value.replace("+", "-").split("-");
      if (low) params.set("price_min", low);
      if (high) params.set("price_max", high);
    } else params.append("attr", `${facet.replace(/^attr(ibute)?s?\./, "")}:${value}`);
  }

  function searchPage() {
    initShopper();
    const filters = {};
    let timer = null;
    let seq = 0;
    const q = $("#q");
    const run = async () => {
      const mine = ++seq;
      const params = new URLSearchParams({q: q.value, sort: $("#sort").value, page: "1"});
      for (const [facet, value] of Object.entries(filters)) addFilter(params, facet, value);
      const uid = shopper();
      if (uid) params.set("user_id", uid);
      const path = "/search?" + params.toString();
      setTwin(path);
      try {
        const body = await api(path);
        if (mine !== seq) return;  // a newer keystroke won
        drawResults(body);
      } catch (error) {
        $("#summary").textContent = error.message;
      }
    };
    const drawResults = (body) => {
      $("#summary").textContent = `${body.total} matches · ${body.took_ms.toFixed(1)} ms · ranker ${body.ranker}`;
      fillList("#results", body.items, "No results");
      const u = body.understood || {};
      const bits = [];
      if (u.corrections && Object.keys(u.corrections).length)
        bits.push("spelling: " + Object.entries(u.corrections).map(([a, b]) => `${a} → ${b}`).join(", "));
      if (u.price_min != null) bits.push(`price ≥ ${u.price_min}`);
      if (u.price_max != null) bits.push(`price ≤ ${u.price_max}`);
      if (u.brands && u.brands.length) bits.push("brand: " + u.brands.join(", "));
      for (const [k, vs] of Object.entries(u.attributes || {})) bits.push(`${k}: ${vs.join(", ")}`);
      $("#understood").innerHTML = bits.length
        ? "Understood: " + bits.map(esc).join(" · ") + ' <a href="#" id="literal">search literally</a>' : "";
      const literal = $("#literal");
      if (literal) literal.addEventListener("click", (e) => { e.preventDefault(); filters.understand = "false"; run(); });
      const facets = $("#facets");
      facets.innerHTML = Object.entries(body.facets || {}).filter(([, counts]) => Object.keys(counts).length)
        .map(([name, counts]) => `<h3>${esc(name)}</h3><ul>` + Object.entries(counts).slice(0, 12).map(([value, n]) =>
          `<li><label><input type="checkbox" data-facet="${esc(name)}" value="${esc(value)}"
            ${filters[name] === value ? "checked" : ""}> ${esc(value)} <span class="muted">${n}</span></label></li>`).join("") + "</ul>")
        .join("");
      facets.querySelectorAll("input[data-facet]").forEach((box) => box.addEventListener("change", () => {
        if (box.checked) filters[box.dataset.facet] = box.value; else delete filters[box.dataset.facet];
        run();
      }));
    };
    q.addEventListener("input", () => { delete filters.understand; clearTimeout(timer); timer = setTimeout(run, 120); });
    $("#sort").addEventListener("change", run);
    document.addEventListener("shopper-changed", run);
    $("#results").addEventListener("click", (e) => {
      const hit = e.target.closest(".hit");
      if (hit) postEvent("click", hit.dataset.item).catch(() => {});
    });
    const initial = new URLSearchParams(location.search).get("q");
    if (initial) { q.value = initial; run(); }
  }

  // -- product --------------------------------------------------------------------------
  async function productPage(itemId) {
    initShopper();
    const id = encodeURIComponent(itemId);
    try {
      const {item} = await api(`/items/${id}`);
      $("#title").textContent = item.title;
      const price = item.price != null ? ` · $${item.price.toFixed(2)}` : "";
      $("#meta").textContent = [item.brand, (item.category || []).join(" › ")].filter(Boolean).join(" · ") + price;
      $("#description").textContent = item.description || "";
      postEvent("view", itemId).catch(() => {});
    } catch (error) {
      $("#title").textContent = error.message;
      return;
    }
    $("#add-to-cart").addEventListener("click", async () => {
      try {
        await postEvent("add_to_cart", itemId);
        $("#cart-status").textContent = "added — see For you";
      } catch (error) {
        $("#cart-status").textContent = error.message;
      }
    });
    api(`/items/${id}/similar?n=8`).then((b) => fillList("#similar", b.items, "Nothing similar yet"))
      .catch((e) => fillList("#similar", [], e.message));
    api(`/items/${id}/bought-together?n=8`).then((b) => fillList("#bought-together", b.items, "No co-purchases yet"))
      .catch((e) => fillList("#bought-together", [], e.message));
  }

  // -- for you --------------------------------------------------------------------------
  function forYouPage() {
    initShopper();
    const load = async () => {
      const path = `/users/${encodeURIComponent(shopper())}/recommendations?n=12`;
      setTwin(path);
      try {
        const body = await api(path);
        $("#source").textContent = body.source ? `answered by: ${body.source}` : "";
        fillList("#recs", body.items, "No recommendations");
      } catch (error) {
        fillList("#recs", [], error.message);
      }
    };
    document.addEventListener("shopper-changed", load);
    load();
    api("/trending?n=8").then((b) => fillList("#trending", b.items, "Nothing trending")).catch(() => {});
  }

  // -- admin ----------------------------------------------------------------------------
  function barChart(title, values) {
    const entries = Object.entries(values).filter(([, v]) => typeof v === "number");
    if (!entries.length) return "";
    const max = Math.max(...entries.map(([, v]) => v), 1e-9);
    const row = 22, width = 420, label = 120;
    const bars = entries.map(([k, v], i) => {
      const w = Math.max(1, (v / max) * (width - label - 60));
      return `<text x="0" y="${i * row + 15}">${esc(k)}</text>
        <rect x="${label}" y="${i * row + 4}" width="${w}" height="14"></rect>
        <text x="${label + w + 4}" y="${i * row + 15}">${v.toFixed(4)}</text>`;
    }).join("");
    return `<figure><figcaption>${esc(title)}</figcaption>
      <svg class="chart" width="${width}" height="${entries.length * row + 4}" role="img">${bars}</svg></figure>`;
  }

  function findMetrics(node, path, out) {
    if (!node || typeof node !== "object") return;
    if (node.metrics && typeof node.metrics === "object") out.push([path || "model", node.metrics]);
    for (const [k, v] of Object.entries(node)) if (k !== "metrics") findMetrics(v, path ? `${path} / ${k}` : k, out);
  }

  async function adminPage() {
    initShopper();
    const {stats} = await api("/stats");
    $("#counts").innerHTML = Object.entries(stats.store).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v.toLocaleString()}</td></tr>`).join("");
    const models = {};
    if (stats.search) models.search = stats.search;
    if (stats.recommendations) models.recommendations = stats.recommendations;
    $("#models").innerHTML = `<pre>${esc(JSON.stringify(models, null, 2))}</pre>`;
    const found = [];
    findMetrics(models, "", found);
    $("#plots").innerHTML = found.map(([name, m]) => barChart(name, m)).join("") || '<p class="muted">No evaluated model yet.</p>';
  }

  // -- sign in (admin pages) ------------------------------------------------------------
  function loginPage() {
    const form = $("#login");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("/session", {method: "POST", headers: {"content-type": "application/json"},
                               body: JSON.stringify({key: $("#key").value})});
        const next = form.dataset.next || "/admin";
        location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/admin";
      } catch (error) {
        $("#login-status").textContent = error.message;
      }
    });
  }

  // -- what is still training (every page) -----------------------------------------------
  async function showTraining() {
    const box = $("#training");
    if (!box) return;
    try {
      const {training} = await api("/health");
      if (!training || training.state !== "training") { box.hidden = true; return; }
      const val = training["val_ndcg@10"] != null ? ` · validation NDCG@10 ${training["val_ndcg@10"].toFixed(4)}` : "";
      const eta = training.eta_s != null ? ` · about ${Math.max(1, Math.round(training.eta_s / 60))} min left` : "";
      box.textContent = `Still training ${training.model}: epoch ${training.epoch} of ${training.max_epochs ?? "?"}${val}${eta}. ` +
        "Answers come from the fast models until it is ready.";
      box.hidden = false;
      setTimeout(showTraining, 5000);
    } catch (error) { box.hidden = true; }
  }

  const pages = {search: searchPage, product: () => productPage(document.body.dataset.itemId),
                 "for-you": forYouPage, admin: adminPage, login: loginPage};
  document.addEventListener("DOMContentLoaded", () => {
    const start = pages[document.body.dataset.page];
    if (start) start();
    showTraining();
  });
  return {searchPage, productPage, forYouPage, adminPage, postEvent, shopper};
})();
