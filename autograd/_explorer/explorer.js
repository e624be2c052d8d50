// deltagrad explorer: step through backward on an inline SVG drawn by Graphviz.
// Plain JavaScript, no framework, nothing fetched. Data: the JSON in #deltagrad-data.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("deltagrad-data").textContent);
  var svg = document.querySelector("#stage svg");
  var num = function (x) { return typeof x === "string" ? Number(x) : x; };
  var nodes = D.nodes;
  var elOf = {};
  svg.querySelectorAll("g.node[data-node]").forEach(function (g) { elOf[g.dataset.node] = g; });
  var running = [];
  var history = [];
  var k = 0;
  var timer = null;

  function fmt(x) {
    if (x === null) return "";
    if (!isFinite(x)) return String(x);
    var a = Math.abs(x);
    return (a === 0 || (a >= 1e-3 && a < 1e6)) ? x.toFixed(4) : x.toExponential(4);
  }
  function start() {
    running = nodes.map(function (n, i) {
      if (n.grad === null) return null;
      return i === nodes.length - 1 ? num(D.seed) : 0;
    });
  }
  // collapsed groups (a neuron, a layer, a run of similar nodes): their delta rows and fill
  // follow the running gradients of the z nodes (a run: of its last node) inside them
  var groups = D.groups || [];
  var groupEl = {}, groupsOf = {};
  svg.querySelectorAll("g.node[data-group]").forEach(function (g) {
    groupEl[g.dataset.group] = g;
  });
  groups.forEach(function (gr, k) {
    (gr.kind === "chain" ? gr.outs : gr.zs).forEach(function (z) {
      (groupsOf[z] = groupsOf[z] || []).push(k);
    });
  });
  function showGroup(k) {
    var gr = groups[k], g = groupEl[k];
    if (!g) return;
    if (gr.kind === "chain") {
      var last = gr.outs[0];
      g.querySelectorAll("text").forEach(function (t) {
        if (t.textContent.indexOf("last: ") === 0 && running[last] !== null) {
          t.textContent = "last: data " + fmt(num(nodes[last].data)) + " grad " + fmt(running[last]);
        }
      });
      heat(g, running[last]);
      return;
    }
    var big = 0;
    gr.zs.forEach(function (z) { if (Math.abs(running[z]) > Math.abs(big)) big = running[z]; });
    var row = 0;
    g.querySelectorAll("text").forEach(function (t) {
      var s = t.textContent;
      if (s.indexOf("max |\u03b4| ") === 0) {
        t.textContent = "max |\u03b4| " + fmt(Math.abs(big));
      } else if (s.indexOf("\u03b4 ") >= 0 && row < gr.zs.length) {
        t.textContent = s.slice(0, s.lastIndexOf("\u03b4 ")) + "\u03b4 " + fmt(running[gr.zs[row]]);
        row += 1;
      }
    });
    heat(g, big);
  }
  function show(i) {
    (groupsOf[i] || []).forEach(showGroup);
    var g = elOf[i];
    if (!g) return;
    var r = running[i];
    g.setAttribute("data-grad", r === null ? "" : String(r));
    var t = g.querySelector("text.grad");
    if (t) t.textContent = "grad " + fmt(r);
    heat(g, r);
  }
  // the heat map follows the stepping: a box's fill is |running grad| on the drawing's scale
  var H = D.heat;
  function heat(g, r) {
    var box = g.querySelector(".box");
    if (!H || !box || r === null) return;
    var a = Math.abs(r), fill, text;
    if (a === 0) {
      fill = H.zero; text = H.zero_text;
      box.setAttribute("stroke-dasharray", "5,2");
    } else {
      var level = a < H.gmax ? Math.floor(a / H.gmax * H.levels + 0.5) : H.levels;
      fill = H.palette[level]; text = level >= H.dark_from ? "white" : "black";
      box.removeAttribute("stroke-dasharray");
    }
    box.setAttribute("fill", fill);
    g.querySelectorAll("text").forEach(function (el) { el.setAttribute("fill", text); });
  }
  function edgeNote(c, pos, text) {
    var e = document.getElementById("e" + c + "_" + pos);
    if (!e) return;
    var old = e.querySelector("text.contrib");
    if (old) old.remove();
    e.classList.toggle("flow", text !== null);
    if (text === null) return;
    var path = e.querySelector("path");
    if (!path) return;
    var p = path.getPointAtLength(path.getTotalLength() / 2);
    var t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("class", "contrib");
    t.setAttribute("x", p.x); t.setAttribute("y", p.y - 3);
    t.setAttribute("text-anchor", "middle");
    t.textContent = text;
    e.appendChild(t);
  }
  function mark(c, on) {
    var g = elOf[c];
    if (g) { g.classList.toggle("final", on); }
  }
  function current() {
    svg.querySelectorAll("g.node.current").forEach(function (g) { g.classList.remove("current"); });
    if (k > 0 && elOf[D.steps[k - 1]]) elOf[D.steps[k - 1]].classList.add("current");
  }
  function step() {
    if (k >= D.steps.length) return false;
    var c = D.steps[k];
    var n = nodes[c];
    var g = running[c];
    var saved = n.parents.map(function (q) { return running[q]; });
    n.parents.forEach(function (q, pos) {
      if (running[q] === null) return;  // a constant: nothing flows to it
      var local = num(n.partials[pos]);
      var contrib = g * local;
      edgeNote(c, pos, "\u2202 " + fmt(local) + " \u00b7 " + fmt(g) + " = " + fmt(contrib));
      running[q] += contrib; show(q);
    });
    history.push(saved);
    mark(c, true);
    k += 1;
    refresh();
    return true;
  }
  function back() {
    if (k === 0) return;
    k -= 1;
    var c = D.steps[k];
    var saved = history.pop();
    nodes[c].parents.forEach(function (q, pos) {
      running[q] = saved[pos];
      edgeNote(c, pos, null);
    });
    // a parent listed twice: restore in reverse so the first saved value wins
    for (var pos = saved.length - 1; pos >= 0; pos--) running[nodes[c].parents[pos]] = saved[pos];
    nodes[c].parents.forEach(function (q) { show(q); });
    mark(c, false);
    refresh();
  }
  function reset() {
    stop();
    while (k > 0) back();
    start();
    nodes.forEach(function (_, i) { show(i); });
    refresh();
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    document.getElementById("play").setAttribute("aria-pressed", "false");
  }
  function play() {
    if (timer !== null) { stop(); return; }
    document.getElementById("play").setAttribute("aria-pressed", "true");
    timer = setInterval(function () { if (!step()) stop(); }, 600);
  }
  function refresh() {
    current();
    var s = document.getElementById("status");
    if (k === 0) {
      s.textContent = "Before backward: only the root has its gradient (" + D.steps.length +
        " steps).";
    } else {
      var c = D.steps[k - 1];
      s.textContent = "Step " + k + " / " + D.steps.length + ": the gradient of " +
        nodes[c].name + " is final; its parents receive g \u00b7 local.";
    }
    document.getElementById("back").disabled = k === 0;
    document.getElementById("step").disabled = k >= D.steps.length;
    if (typeof selected === "string") panelGroup(Number(selected.slice(1)));
    else if (selected !== null) panel(selected);
  }

  var selected = null;
  function row(dl, term, value) {
    var dt = document.createElement("dt"); dt.textContent = term;
    var dd = document.createElement("dd"); dd.textContent = value;
    dl.appendChild(dt); dl.appendChild(dd);
  }
  // the side panel, emptied, titled, with `key` (a node index or "g" + group) selected
  function openPanel(key, title) {
    if (selected !== null && elOf[selected]) elOf[selected].classList.remove("selected");
    selected = key;
    if (elOf[key]) elOf[key].classList.add("selected");
    var box = document.getElementById("panel");
    box.replaceChildren();
    var h = document.createElement("h2");
    h.textContent = title;
    box.appendChild(h);
    return box;
  }
  function panel(i) {
    var n = nodes[i];
    var box = openPanel(i, n.label || n.name);
    var dl = document.createElement("dl");
    row(dl, "node", "#" + i + (n.scope ? " in " + n.scope : ""));
    row(dl, "op", n.op || "(leaf: " + n.role + ")");
    row(dl, "data", fmt(num(n.data)));
    row(dl, "grad", n.grad === null ? "none (a constant)" : fmt(num(n.grad)));
    if (n.grad !== null) row(dl, "shown grad", fmt(running[i]));
    n.parents.forEach(function (q, pos) {
      row(dl, "\u2202/\u2202in" + pos, fmt(num(n.partials[pos])) + "  (" + nodes[q].name + ")");
    });
    box.appendChild(dl);
    var pre = document.createElement("pre");
    pre.textContent = n.explain;
    box.appendChild(pre);
  }
  var KINDS = { neuron: "a collapsed neuron", layer: "a collapsed layer",
    layers: "collapsed layers", chain: "a run of similar nodes" };
  function panelGroup(k) {
    var gr = groups[k];
    var box = openPanel("g" + k, gr.name || gr.kind);
    var dl = document.createElement("dl");
    row(dl, "group", KINDS[gr.kind] || gr.kind);
    var shown = gr.kind === "chain" ? [gr.zs[0], gr.outs[0]] : gr.zs.slice(0, 8);
    shown.forEach(function (z) {
      var n = nodes[z];
      row(dl, n.name, "data " + fmt(num(n.data)) + ", grad " +
        (n.grad === null ? "none" : fmt(running[z]) + " (final " + fmt(num(n.grad)) + ")"));
    });
    if (gr.kind !== "chain" && gr.zs.length > shown.length) {
      row(dl, "\u2026", (gr.zs.length - shown.length) + " more z nodes");
    }
    box.appendChild(dl);
    var first = nodes[gr.kind === "chain" ? gr.outs[0] : gr.zs[0]];
    var pre = document.createElement("pre");
    pre.textContent = first.explain;
    box.appendChild(pre);
  }

  // clusters: click to collapse / expand (hides the nodes and edges inside)
  function toggleCluster(g) {
    var idx = g.getAttribute("data-cluster");
    var on = !g.classList.contains("collapsed");
    g.classList.toggle("collapsed", on);
    svg.querySelectorAll("[data-clusters]").forEach(function (el) {
      var inside = (" " + el.getAttribute("data-clusters") + " ").indexOf(" " + idx + " ") >= 0;
      if (!inside) return;
      el.classList.toggle("hidden-by-cluster", on);
    });
  }

  // pan and zoom on the viewBox
  var vb = svg.viewBox.baseVal;
  var full = { x: vb.x, y: vb.y, width: vb.width, height: vb.height };
  var zoomed = false;
  function fit() {
    vb.x = full.x; vb.y = full.y; vb.width = full.width; vb.height = full.height;
    zoomed = false;
  }
  // Open readable: when the whole drawing would show its 10 pt text smaller than 8 px, start
  // at one drawing unit per pixel with the root (where backward starts) near the edge the
  // drawing flows to; "Fit" shows the whole drawing, and again returns here.
  var ROOT_AT = { LR: [0.8, 0.5], RL: [0.2, 0.5], TB: [0.5, 0.8], BT: [0.5, 0.2] };
  function readable(force) {
    var r = stage.getBoundingClientRect();
    var root = elOf[nodes.length - 1] || svg.querySelector("g.node");
    var m = svg.getScreenCTM();
    if (!r.width || !r.height || !root || !m) return;
    if (!force && Math.min(r.width / full.width, r.height / full.height) >= 0.8) return;
    var b = root.getBoundingClientRect();
    var p = svg.createSVGPoint();
    p.x = b.left + b.width / 2; p.y = b.top + b.height / 2;
    var c = p.matrixTransform(m.inverse());
    var at = ROOT_AT[D.rankdir] || [0.5, 0.5];
    vb.width = r.width; vb.height = r.height;
    vb.x = c.x - r.width * at[0]; vb.y = c.y - r.height * at[1];
    zoomed = true;
  }
  document.getElementById("fit").addEventListener("click", function () {
    if (zoomed) fit(); else readable(true);
  });
  var drag = null;
  var stage = document.getElementById("stage");
  stage.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var f = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
    var r = svg.getBoundingClientRect();
    var px = vb.x + (ev.clientX - r.left) / r.width * vb.width;
    var py = vb.y + (ev.clientY - r.top) / r.height * vb.height;
    vb.x = px - (px - vb.x) * f; vb.y = py - (py - vb.y) * f;
    vb.width *= f; vb.height *= f;
  }, { passive: false });
  stage.addEventListener("mousedown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, moved: false };
    stage.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    var r = svg.getBoundingClientRect();
    var dx = (ev.clientX - drag.x) / r.width * vb.width;
    var dy = (ev.clientY - drag.y) / r.height * vb.height;
    if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) drag.moved = true;
    vb.x -= dx; vb.y -= dy;
    drag.x = ev.clientX; drag.y = ev.clientY;
  });
  window.addEventListener("mouseup", function () {
    stage.classList.remove("dragging");
    setTimeout(function () { drag = null; }, 0);
  });
  svg.addEventListener("click", function (ev) {
    if (drag && drag.moved) return;
    var g = ev.target.closest("g.node[data-node]");
    if (g) { panel(Number(g.dataset.node)); return; }
    var grp = ev.target.closest("g.node[data-group]");
    if (grp) { panelGroup(Number(grp.dataset.group)); return; }
    var c = ev.target.closest("g.cluster[data-cluster]");
    if (c) toggleCluster(c);
  });

  document.getElementById("step").addEventListener("click", function () { stop(); step(); });
  document.getElementById("back").addEventListener("click", function () { stop(); back(); });
  document.getElementById("play").addEventListener("click", play);
  document.getElementById("reset").addEventListener("click", reset);
  document.getElementById("forward").addEventListener("change", function (ev) {
    document.body.classList.toggle("forward-only", ev.target.checked);
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowRight") { stop(); step(); ev.preventDefault(); }
    if (ev.key === "ArrowLeft") { stop(); back(); ev.preventDefault(); }
  });
  start();
  nodes.forEach(function (_, i) { show(i); });
  refresh();
  readable(false);
})();
