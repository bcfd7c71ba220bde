// brandscan report view. All document data reaches the DOM through textContent, DOM properties
// and the CSSOM, never through markup: a report cannot inject elements or scripts.
(() => {
  "use strict";
  const DATA = JSON.parse(document.getElementById("brandscan-data").textContent);
  const $ = (id) => document.getElementById(id);
  const scroller = $("doc"), textBox = $("text"), svg = $("links"), panel = $("details");
  const SVGNS = "http://www.w3.org/2000/svg";
  const MAX_LIST = 1000; // rows in a side list; the text itself is never capped
  const LIST_PAGE = 200;
  const highlights = typeof CSS !== "undefined" && CSS.highlights && typeof Highlight !== "undefined";

  let doc = null; // the current document's view (see engine/render.py build_view)
  let st = null; // per-document state, rebuilt by load()

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const fmt = (x, d = 2) => (x === null || x === undefined ? "\u2013" : Number(x).toFixed(d));
  const quote = (t) => "\u201c" + (t.length > 80 ? t.slice(0, 77) + "\u2026" : t) + "\u201d";
  // Span texts travel only when the report has no text; otherwise they are cut from it here.
  const tx = (sp) => (sp.t !== undefined ? sp.t : doc.text.slice(sp.s, sp.e));
  const brandOf = (b) => (b >= 0 ? doc.brands[b] : null);
  const brandName = (b) => (b >= 0 ? doc.brands[b].name : "no brand");
  // Largest i with arr[i] <= x (arr sorted ascending, arr[0] <= x).
  function floorIndex(arr, x, key = (v) => v) {
    let lo = 0, hi = arr.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (key(arr[mid]) <= x) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
  const blockOf = (offset) => Math.min(floorIndex(doc.blocks, offset), doc.blocks.length - 2);

  // ---- loading a document -------------------------------------------------------------------
  function load(index) {
    doc = DATA.documents[index];
    if (st && st.observer) st.observer.disconnect();
    st = { blocks: [], built: new Set(), els: new Map(), deco: new Map(), current: -1, selected: -1,
      shown: -1, brandCursor: new Map(), buildMs: [], referrers: null, observer: null };
    for (const id of ["notices", "mention-table", "brands", "opinions"]) $(id).replaceChildren();
    textBox.replaceChildren(svg);
    svg.replaceChildren();
    $("jump").hidden = true;
    if (highlights) CSS.highlights.clear();
    $("source").textContent = doc.source;
    $("source").title = doc.sha256 ? "sha256 " + doc.sha256 : "";
    if (doc.error) {
      notice("This document failed to analyze: " + doc.error, "error");
      $("stats").textContent = "";
      renderDetails();
      return;
    }
    const s = doc.stats || {};
    $("stats").textContent = [
      s.tokens !== undefined ? Number(s.tokens).toLocaleString("en") + " tokens" : null,
      s.passages !== undefined ? s.passages + " passages" : null,
      doc.mentions.length + " mentions", doc.opinions.length + " opinions", doc.model,
    ].filter(Boolean).join(" \u00b7 ");
    for (const w of doc.warnings) notice("Warning: " + w, "");
    prepareIndexes();
    if (doc.text === null || doc.text === undefined) {
      notice("This report has no document text (it was written without --include-text), so mentions " +
        "cannot be drawn on the text. They are listed below; re-run `brandscan analyze --include-text` " +
        "or `--format html` to see them in place.", "error");
      renderMentionTable();
    } else {
      buildPlaceholders();
    }
    renderBrands();
    renderOpinions();
    renderDetails();
  }

  function notice(text, cls) {
    $("notices").append(el("div", "notice " + cls, text));
  }

  function prepareIndexes() {
    // Reverse links: which linked mentions point at each anchor mention.
    st.referrers = new Map();
    doc.mentions.forEach((m, k) => {
      for (const a of (m.at && m.at.anchors) || []) {
        if (a.m < 0) continue;
        if (!st.referrers.has(a.m)) st.referrers.set(a.m, []);
        st.referrers.get(a.m).push(k);
      }
    });
    // Opinion spans cut to blocks, so each block knows what to underline.
    st.blockOps = new Map();
    if (!doc.blocks.length) return;
    doc.opinions.forEach((o, oi) => {
      for (const sp of [o.as, ...o.os].filter(Boolean)) {
        if (sp.e <= sp.s) continue;
        for (let b = blockOf(sp.s); b < doc.blocks.length - 1 && doc.blocks[b] < sp.e; b++) {
          const piece = { s: Math.max(sp.s, doc.blocks[b]), e: Math.min(sp.e, doc.blocks[b + 1]), o: oi };
          if (!st.blockOps.has(b)) st.blockOps.set(b, []);
          st.blockOps.get(b).push(piece);
        }
      }
    });
  }

  // ---- lazy blocks ----------------------------------------------------------------------------
  // Every block starts as one plain text node (cheap, and skipped by layout through
  // content-visibility); its mention spans are built when it comes within a screen or two.
  function buildPlaceholders() {
    const perLine = Math.max(20, Math.floor(textBox.clientWidth / 8.5));
    const lineHeight = 27;
    st.observer = new IntersectionObserver(onIntersect, { root: scroller, rootMargin: "1200px 0px" });
    const frag = document.createDocumentFragment();
    for (let i = 0; i + 1 < doc.blocks.length; i++) {
      const chunk = doc.text.slice(doc.blocks[i], doc.blocks[i + 1]);
      const div = el("div", "block", chunk);
      div.dataset.i = String(i);
      const lines = Math.ceil(chunk.length / perLine) + (chunk.split("\n").length - 1);
      div.style.containIntrinsicSize = "auto " + lines * lineHeight + "px";
      st.blocks.push(div);
      st.observer.observe(div);
      frag.append(div);
    }
    textBox.append(frag);
    st.firstMention = [];
    let k = 0;
    for (let i = 0; i + 1 < doc.blocks.length; i++) {
      while (k < doc.mentions.length && doc.mentions[k].s < doc.blocks[i]) k++;
      st.firstMention.push(k);
    }
  }

  function onIntersect(entries) {
    let any = false;
    for (const entry of entries) {
      if (entry.isIntersecting) {
        buildBlock(Number(entry.target.dataset.i));
        any = true;
      }
    }
    if (any) scheduleRedraw();
  }

  function buildBlock(i) {
    if (st.built.has(i)) return;
    const t0 = performance.now();
    st.built.add(i);
    st.observer.unobserve(st.blocks[i]);
    const bs = doc.blocks[i], be = doc.blocks[i + 1];
    const items = [];
    for (let k = st.firstMention[i]; k < doc.mentions.length && doc.mentions[k].s < be; k++) {
      const m = doc.mentions[k];
      if (m.e > m.s) items.push({ s: m.s, e: Math.min(m.e, be), k });
    }
    for (const p of st.blockOps.get(i) || []) items.push({ s: p.s, e: p.e, o: p.o });
    // Outer first; at equal spans a mention encloses an opinion underline.
    const order = (a, b) => a.s - b.s || b.e - a.e || (a.k === undefined) - (b.k === undefined);
    items.sort(order);

    const root = document.createDocumentFragment();
    const stack = [{ node: root, e: be }];
    let pos = bs;
    const emit = (upto) => {
      if (upto > pos) {
        stack[stack.length - 1].node.append(doc.text.slice(pos, upto));
        pos = upto;
      }
    };
    for (let n = 0; n < items.length; n++) {
      const it = items[n];
      while (stack.length > 1 && stack[stack.length - 1].e <= it.s) {
        emit(stack[stack.length - 1].e);
        stack.pop();
      }
      emit(it.s);
      const parentEnd = stack[stack.length - 1].e;
      if (it.e > parentEnd) {
        // Crossing spans cannot nest: cut this one at its parent's end, the rest goes on after.
        const rest = { ...it, s: parentEnd, cont: true };
        let at = n + 1;
        while (at < items.length && order(items[at], rest) <= 0) at++;
        items.splice(at, 0, rest);
        it.e = parentEnd;
      }
      const node = it.k !== undefined ? mentionNode(it.k, it.cont) : opinionNode(it.o);
      stack[stack.length - 1].node.append(node);
      stack.push({ node, e: it.e });
    }
    while (stack.length > 1) {
      emit(stack[stack.length - 1].e);
      stack.pop();
    }
    emit(be);
    const div = st.blocks[i];
    div.replaceChildren(root);
    div.dataset.built = "";
    st.buildMs.push(performance.now() - t0);
    if (st.shown >= 0) scheduleReapply();
  }

  function mentionNode(k, continued) {
    const m = doc.mentions[k];
    const node = el("span", "m");
    const brand = brandOf(m.b);
    if (brand) node.style.setProperty("--bc", brand.color); else node.classList.add("nobrand");
    if (m.k !== "explicit" && m.k !== "alias" && m.k !== "product" && m.k !== "handle") node.classList.add("linked");
    node.dataset.i = String(k);
    node.dataset.id = m.id;
    node.title = m.k + " \u2192 " + brandName(m.b) + (m.pr !== null && m.pr !== undefined ? " (" + fmt(m.pr) + ")" : "");
    // A mention cut by a crossing span has continuation pieces; the head piece comes first.
    if (!continued || !st.els.has(k)) st.els.set(k, [node]);
    else st.els.get(k).push(node);
    const deco = st.deco.get(k);
    if (deco) node.classList.add(deco);
    if (k === st.current) node.classList.add("is-current");
    return node;
  }

  function opinionNode(oi) {
    const o = doc.opinions[oi];
    const cls = o.pol === "positive" ? "op-pos" : o.pol === "negative" ? "op-neg" : "op-neu";
    const node = el("span", cls);
    node.dataset.o = String(oi);
    node.title = o.pol + " opinion on " + o.aspect + " (" + brandName(o.b) + ", " + fmt(o.score) + ")";
    return node;
  }

  function ensureMention(k) {
    if (!doc.blocks.length) return null;
    buildBlock(blockOf(doc.mentions[k].s));
    const nodes = st.els.get(k);
    return nodes ? nodes[0] : null;
  }

  // A DOM Range over document offsets [s, e), building the blocks it touches.
  function rangeOf(s, e) {
    if (!doc.blocks.length || e <= s) return null;
    const a = point(s, false), b = point(e, true);
    if (!a || !b) return null;
    const r = document.createRange();
    r.setStart(a[0], a[1]);
    r.setEnd(b[0], b[1]);
    return r;
  }

  function point(offset, isEnd) {
    let i = blockOf(offset);
    if (isEnd && i > 0 && offset === doc.blocks[i]) i--; // an end exactly at a block start
    buildBlock(i);
    const walker = document.createTreeWalker(st.blocks[i], NodeFilter.SHOW_TEXT);
    let at = doc.blocks[i];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const len = n.data.length;
      if (offset < at + len || (offset === at + len && isEnd)) return [n, offset - at];
      at += len;
    }
    return null;
  }

  // ---- showing an attribution -----------------------------------------------------------------
  function setDeco(k, cls) {
    st.deco.set(k, cls);
    for (const n of st.els.get(k) || []) n.classList.add(cls);
  }

  function clearDeco() {
    for (const [k, cls] of st.deco) for (const n of st.els.get(k) || []) n.classList.remove(cls);
    st.deco.clear();
    if (highlights) for (const name of ["ev1", "ev2", "ev3", "ev4", "ev5"]) CSS.highlights.delete(name);
  }

  // Show mention k's attribution (k < 0 clears). scroll: bring the strongest anchor into view.
  function show(k, scroll) {
    clearDeco();
    st.shown = k;
    if (k >= 0) {
      const m = doc.mentions[k];
      ensureMention(k);
      setDeco(k, "is-selected");
      for (const a of (m.at && m.at.anchors) || []) if (a.m >= 0 && a.m !== k) { ensureMention(a.m); setDeco(a.m, "is-anchor"); }
      for (const r of (st.referrers.get(k) || []).slice(0, MAX_LIST)) if (!st.deco.has(r)) setDeco(r, "is-referrer");
      applyEvidence();
      if (scroll) {
        const target = strongestAnchor(m);
        const node = target >= 0 ? ensureMention(target) : ensureMention(k);
        if (node && !visible(node)) node.scrollIntoView({ block: "center" });
      }
    }
    renderDetails();
    scheduleRedraw();
  }

  function strongestAnchor(m) {
    let best = -1, w = -1;
    for (const a of (m.at && m.at.anchors) || []) if (a.m >= 0 && a.w > w) { best = a.m; w = a.w; }
    return best;
  }

  function applyEvidence() {
    if (!highlights || st.shown < 0) return;
    const m = doc.mentions[st.shown];
    const ev = (m.at && m.at.evidence) || [];
    const top = Math.max(1e-9, ...ev.map((e) => e.w || 0));
    const levels = [[], [], [], [], []];
    for (const e of ev) {
      const r = rangeOf(e.s, e.e);
      if (r) levels[Math.max(0, Math.min(4, Math.ceil((5 * (e.w || 0)) / top) - 1))].push(r);
    }
    levels.forEach((ranges, i) => CSS.highlights.set("ev" + (i + 1), new Highlight(...ranges)));
  }

  let reapplyQueued = false;
  function scheduleReapply() {
    // Building a block replaces its text nodes, so ranges into it are rebuilt afterwards.
    if (reapplyQueued) return;
    reapplyQueued = true;
    queueMicrotask(() => { reapplyQueued = false; applyEvidence(); });
  }

  function visible(node) {
    const r = node.getBoundingClientRect(), v = scroller.getBoundingClientRect();
    return r.bottom > v.top && r.top < v.bottom;
  }

  // ---- the connecting marker --------------------------------------------------------------
  let redrawQueued = false;
  function scheduleRedraw() {
    if (redrawQueued) return;
    redrawQueued = true;
    requestAnimationFrame(() => { redrawQueued = false; drawLinks(); updateJump(); });
  }

  function drawLinks() {
    svg.replaceChildren();
    if (!st || st.shown < 0) return;
    const m = doc.mentions[st.shown];
    const from = (st.els.get(st.shown) || [])[0];
    if (!from) return;
    const box = svg.getBoundingClientRect();
    // Each end of the link sits under its mention's baseline, so the line runs beneath the text.
    const spot = (node) => {
      const r = node.getBoundingClientRect();
      return [r.left - box.left + 2, r.bottom - box.top + 1];
    };
    const [x1, y1] = spot(from);
    const gutter = 10, radius = 8;
    anchorsOf(m).forEach((a, n) => {
      const to = (st.els.get(a.m) || [])[0];
      if (!to) return;
      const [x2, y2] = spot(to);
      // Out to the left margin, along it, and back in: readable even when the ends are pages apart.
      const gx = gutter + 6 * n;
      const dir = y2 >= y1 ? 1 : -1;
      const r = Math.min(radius, Math.abs(y2 - y1) / 2);
      const path = document.createElementNS(SVGNS, "path");
      if (Math.abs(y2 - y1) < 4) {
        // Same line: a shallow arc under the words between them is enough.
        path.setAttribute("d", `M ${x1} ${y1} Q ${(x1 + x2) / 2} ${y1 + 10} ${x2} ${y2}`);
      } else {
        path.setAttribute("d", `M ${x1} ${y1} L ${gx + r} ${y1} Q ${gx} ${y1} ${gx} ${y1 + dir * r} ` +
          `L ${gx} ${y2 - dir * r} Q ${gx} ${y2} ${gx + r} ${y2} L ${x2} ${y2}`);
      }
      path.style.strokeOpacity = String(0.35 + 0.65 * Math.min(1, a.w || 0));
      svg.append(path);
      for (const [x, y] of [[x1, y1], [x2, y2]]) {
        const dot = document.createElementNS(SVGNS, "circle");
        dot.setAttribute("cx", String(x));
        dot.setAttribute("cy", String(y));
        dot.setAttribute("r", "3");
        svg.append(dot);
      }
    });
  }

  const anchorsOf = (m) => ((m.at && m.at.anchors) || []).filter((a) => a.m >= 0 && a.m !== st.shown);

  // A pill at the edge of the view pointing at the other end of the link when it is off screen.
  function updateJump() {
    const jump = $("jump");
    jump.hidden = true;
    if (!st || st.shown < 0) return;
    const m = doc.mentions[st.shown];
    const here = (st.els.get(st.shown) || [])[0];
    const a = strongestAnchor(m);
    const there = a >= 0 ? (st.els.get(a) || [])[0] : null;
    let target = null, label = "";
    if (here && !visible(here)) { target = here; label = "linked mention " + quote(tx(m)) + " (b)"; }
    else if (there && !visible(there)) { target = there; label = "anchor " + quote(tx(doc.mentions[a])) + " (a)"; }
    if (!target) return;
    const up = target.getBoundingClientRect().top < scroller.getBoundingClientRect().top;
    jump.className = up ? "up" : "down";
    jump.textContent = (up ? "\u2191 " : "\u2193 ") + label;
    jump.onclick = () => target.scrollIntoView({ block: "center" });
    jump.hidden = false;
  }

  // ---- side panel -----------------------------------------------------------------------------
  function swatch(b) {
    const s = el("span", "swatch-b");
    const brand = brandOf(b);
    s.style.setProperty("--bc", brand ? brand.color : "#9aa0a6");
    return s;
  }

  function sentimentBar(score) {
    const bar = el("span", "bar");
    if (score !== null && score !== undefined) {
      const fill = el("i");
      const w = Math.min(1, Math.abs(score)) * 50;
      fill.style.left = score >= 0 ? "50%" : 50 - w + "%";
      fill.style.width = w + "%";
      fill.style.background = score >= 0 ? "var(--pos)" : "var(--neg)";
      bar.append(fill);
    }
    bar.title = "net sentiment " + fmt(score);
    return bar;
  }

  function renderBrands() {
    const box = $("brands");
    if (!doc.brands.length) box.append(el("p", "muted", "No brands found."));
    doc.brands.forEach((b, bi) => {
      const card = el("div", "brand");
      card.style.setProperty("--bc", b.color);
      card.dataset.brand = b.id;
      const head = el("div", "head");
      head.append(el("span", "name", b.name));
      if (b.cat) head.append(el("span", "muted", b.cat));
      head.append(el("span", "count", b.counts.total !== undefined ? b.counts.total : ""));
      head.title = "Go to the next mention of " + b.name;
      head.onclick = () => nextOfBrand(bi);
      card.append(head);
      const kinds = Object.entries(b.counts).filter(([k]) => k !== "total").map(([k, v]) => k + " " + v);
      const line = el("div", "kinds", kinds.join(" \u00b7 ") + "  net ");
      line.append(sentimentBar(b.net), document.createTextNode(" " + fmt(b.net)));
      card.append(line);
      if (b.aspects.length) {
        const table = el("table");
        const hr = el("tr");
        for (const h of ["aspect", "+", "\u2212", "0", "mean"]) hr.append(el("th", "", h));
        table.append(hr);
        for (const a of b.aspects) {
          const tr = el("tr");
          tr.append(el("td", "", a.name || a.aspect), el("td", "", a.positive), el("td", "", a.negative),
            el("td", "", a.neutral), el("td", "", fmt(a.mean_score)));
          table.append(tr);
        }
        card.append(table);
      }
      box.append(card);
    });
  }

  // The list grows by a page on demand: a long document can carry thousands of opinions.
  function renderOpinions(from = 0) {
    const box = $("opinions");
    if (!doc.opinions.length) box.append(el("p", "muted", "No opinions found."));
    const upto = Math.min(doc.opinions.length, from + LIST_PAGE);
    for (let oi = from; oi < upto; oi++) box.append(opinionRow(doc.opinions[oi], oi));
    if (upto < doc.opinions.length) {
      const more = el("button", "more", "Show " + Math.min(LIST_PAGE, doc.opinions.length - upto) + " more of " +
        (doc.opinions.length - upto));
      more.onclick = () => { more.remove(); renderOpinions(upto); };
      box.append(more);
    }
  }

  function opinionRow(o, oi) {
    const row = el("div", "opinion");
    row.dataset.o = String(oi);
    const sign = o.pol === "positive" ? "+" : o.pol === "negative" ? "\u2212" : "0";
    row.append(el("span", "pol " + o.pol, sign), " ", swatch(o.b), el("b", "", brandName(o.b)), " \u00b7 " + o.aspect + " ");
    const words = [o.as, ...o.os].filter(Boolean).map(tx).filter(Boolean).map(quote).join(" \u2026 ");
    row.append(el("span", "quote", words), el("span", "muted", " " + fmt(o.score)));
    row.title = o.pol + " (" + fmt(o.score) + ")";
    const at = o.as || o.os[0];
    row.onclick = () => { if (at) goToOffset(at.s, at.e); };
    return row;
  }

  function goToOffset(s, e) {
    const r = rangeOf(s, e);
    if (!r) return;
    const node = r.startContainer.parentElement;
    if (node) node.scrollIntoView({ block: "center" });
    scheduleRedraw();
  }

  function renderDetails() {
    panel.replaceChildren();
    if (!st || st.shown < 0) {
      panel.append(el("p", "muted", doc && doc.mentions && doc.mentions.length
        ? "Click or hover a mention (dashed underline: linked by the model) to see what it was linked to and why."
        : "No mentions in this document."));
      return;
    }
    const k = st.shown, m = doc.mentions[k];
    const head = el("div");
    head.append(el("span", "quote", quote(tx(m))), " ", el("span", "muted", m.k + " \u00b7 " + m.id + " \u00b7 passage " + m.p));
    panel.append(head);
    const to = el("div");
    to.append("\u2192 ", swatch(m.b), el("b", "", brandName(m.b)));
    if (m.pr !== null && m.pr !== undefined) to.append(" p=" + fmt(m.pr));
    if (m.alt) to.append(el("span", "muted", "  runner-up: " + brandName(m.alt.b) + " " + fmt(m.alt.pr)));
    panel.append(to);
    if (m.at) {
      panel.append(el("h2", "", "Anchors (" + m.at.method + ")"));
      if (!m.at.anchors.length) panel.append(el("p", "muted", "none"));
      for (const a of m.at.anchors) {
        const row = el("div", "anchor-row");
        row.dataset.anchor = a.m >= 0 ? doc.mentions[a.m].id : "";
        row.append(el("span", "quote", quote(tx(a))), el("span", "muted", " weight " + fmt(a.w) + " \u00b7 " + distance(m, a)));
        row.onclick = () => (a.m >= 0 ? jumpTo(a.m) : goToOffset(a.s, a.e));
        panel.append(row);
      }
      panel.append(el("h2", "", "Evidence"));
      if (!m.at.evidence.length) panel.append(el("p", "muted", "none"));
      const top = Math.max(1e-9, ...m.at.evidence.map((e) => e.w || 0));
      for (const e of m.at.evidence) {
        const row = el("div", "ev");
        const sw = el("span", "swatch");
        sw.style.opacity = String(0.15 + 0.85 * ((e.w || 0) / top));
        row.append(sw, el("span", "w", fmt(e.w)), el("span", "quote", quote(tx(e))));
        row.onclick = () => goToOffset(e.s, e.e);
        panel.append(row);
      }
    }
    const refs = st.referrers.get(k) || [];
    if (refs.length) {
      panel.append(el("h2", "", "Linked here from " + refs.length + " mention" + (refs.length > 1 ? "s" : "")));
      for (const r of refs.slice(0, 50)) {
        const row = el("div", "anchor-row");
        row.append(el("span", "quote", quote(tx(doc.mentions[r]))), el("span", "muted", " " + doc.mentions[r].k + " \u00b7 passage " + doc.mentions[r].p));
        row.onclick = () => select(r);
        panel.append(row);
      }
    }
    const ops = doc.opinions.map((o, oi) => [o, oi]).filter(([o]) => o.m === k);
    if (ops.length) {
      panel.append(el("h2", "", "Opinions"));
      for (const [o, oi] of ops) panel.append(opinionRow(o, oi));
    }
  }

  function distance(m, a) {
    const dp = Number.isInteger(a.p) && Number.isInteger(m.p) ? a.p - m.p : null;
    const chars = a.s - m.s;
    const where = chars < 0 ? "before" : "after";
    if (dp === 0) return "same passage";
    return (dp !== null ? Math.abs(dp) + (Math.abs(dp) === 1 ? " passage " : " passages ") : Math.abs(chars).toLocaleString("en") + " chars ") + where;
  }

  function renderMentionTable() {
    const table = el("table");
    const hr = el("tr");
    for (const h of ["id", "brand", "kind", "text", "passage", "p"]) hr.append(el("th", "", h));
    table.append(hr);
    doc.mentions.slice(0, MAX_LIST).forEach((m, k) => {
      const tr = el("tr");
      const bcell = el("td");
      bcell.append(swatch(m.b), brandName(m.b));
      tr.append(el("td", "", m.id), bcell, el("td", "", m.k), el("td", "quote", tx(m)), el("td", "", m.p), el("td", "", fmt(m.pr)));
      tr.onclick = () => select(k);
      table.append(tr);
    });
    $("mention-table").append(table);
    if (doc.mentions.length > MAX_LIST) $("mention-table").append(el("p", "muted", doc.mentions.length - MAX_LIST + " more not listed"));
  }

  // ---- navigation -----------------------------------------------------------------------------
  function setCurrent(k) {
    for (const n of st.els.get(st.current) || []) n.classList.remove("is-current");
    st.current = k;
    const node = ensureMention(k);
    for (const n of st.els.get(k) || []) n.classList.add("is-current");
    if (node && !visible(node)) node.scrollIntoView({ block: "center" });
  }

  function select(k) {
    st.selected = k;
    setCurrent(k);
    show(k, true);
  }

  function jumpTo(k) {
    const node = ensureMention(k);
    if (node) node.scrollIntoView({ block: "center" });
    scheduleRedraw();
  }

  function nextOfBrand(bi) {
    const ks = [];
    doc.mentions.forEach((m, k) => { if (m.b === bi) ks.push(k); });
    if (!ks.length) return;
    const n = ((st.brandCursor.get(bi) ?? -1) + 1) % ks.length;
    st.brandCursor.set(bi, n);
    setCurrent(ks[n]);
  }

  // The first mention at or after the top of the view: where j starts when nothing is current.
  function firstVisibleMention() {
    const v = scroller.getBoundingClientRect();
    for (const k of [...st.els.keys()].sort((a, b) => a - b)) {
      const r = st.els.get(k)[0].getBoundingClientRect();
      if (r.bottom > v.top) return k;
    }
    return 0;
  }

  function step(delta) {
    if (!doc.mentions.length || !doc.blocks.length) return;
    let k;
    const cur = st.current >= 0 ? (st.els.get(st.current) || [])[0] : null;
    if (!cur || !visible(cur)) k = firstVisibleMention();
    else k = Math.max(0, Math.min(doc.mentions.length - 1, st.current + delta));
    setCurrent(k);
  }

  document.addEventListener("keydown", (ev) => {
    if (!doc || doc.error || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target instanceof HTMLSelectElement || ev.target instanceof HTMLInputElement) return;
    const key = ev.key;
    if (key === "j" || key === "ArrowRight") step(1);
    else if (key === "k" || key === "ArrowLeft") step(-1);
    else if (key === "Enter" && st.current >= 0) select(st.current);
    else if (key === "Escape") { st.selected = -1; show(-1, false); }
    else if (key === "a" && st.shown >= 0 && strongestAnchor(doc.mentions[st.shown]) >= 0) jumpTo(strongestAnchor(doc.mentions[st.shown]));
    else if (key === "b" && st.shown >= 0) jumpTo(st.shown);
    else return;
    ev.preventDefault();
  });

  textBox.addEventListener("click", (ev) => {
    const node = ev.target instanceof Element ? ev.target.closest(".m") : null;
    if (node) select(Number(node.dataset.i));
  });
  // Hovering previews a mention's attribution without scrolling; leaving restores the selection.
  textBox.addEventListener("mouseover", (ev) => {
    const node = ev.target instanceof Element ? ev.target.closest(".m") : null;
    if (node && Number(node.dataset.i) !== st.shown) show(Number(node.dataset.i), false);
  });
  textBox.addEventListener("mouseout", (ev) => {
    const node = ev.target instanceof Element ? ev.target.closest(".m") : null;
    const into = ev.relatedTarget instanceof Element ? ev.relatedTarget.closest(".m") : null;
    if (node && into !== node && st.shown !== st.selected) show(st.selected, false);
  });
  scroller.addEventListener("scroll", () => { if (st && st.shown >= 0) scheduleRedraw(); }, { passive: true });
  new ResizeObserver(() => scheduleRedraw()).observe(textBox);

  const switcher = $("switcher");
  if (DATA.documents.length > 1) {
    DATA.documents.forEach((d, i) => {
      const opt = el("option", "", (i + 1) + ". " + d.source + (d.error ? " (failed)" : ""));
      opt.value = String(i);
      switcher.append(opt);
    });
    switcher.hidden = false;
    switcher.addEventListener("change", () => { load(Number(switcher.value)); scroller.scrollTop = 0; });
  }
  load(0);
  performance.mark("brandscan-ready");
  // Two frames later the first screen of text has been painted: what "opens in" measures.
  requestAnimationFrame(() => requestAnimationFrame(() => performance.mark("brandscan-painted")));
  // For tests and curious users: read-only access to what is drawn.
  window.brandscanView = {
    documents: DATA.documents.length,
    builtBlocks: () => st.built.size,
    totalBlocks: () => st.blocks.length,
    buildMs: () => st.buildMs.slice(),
    selected: () => (st.shown >= 0 ? doc.mentions[st.shown].id : null),
    reveal: (id) => { const k = doc.mentions.findIndex((m) => m.id === id); if (k >= 0) jumpTo(k); return k >= 0; },
    evidenceRanges: () => (highlights ? ["ev1", "ev2", "ev3", "ev4", "ev5"].reduce((n, h) => n + (CSS.highlights.get(h)?.size || 0), 0) : -1),
  };
})();
