/*
 * lab.js -- the lab page: its state, its controls and its drawings.
 *
 * The maths is linear-lab.js (window.linearLab); this file only keeps the
 * demo's state (the points, W, the settings, the loss curve), reads the
 * controls and draws on the two canvases. It adds linearLab.state(), which
 * returns the demo's current {W, loss, ...}.
 */
(function () {
  "use strict";
  var L = window.linearLab;

  // ---------------------------------------------------------------------------
  // The state.
  // ---------------------------------------------------------------------------

  var VIEW = 3;                        // the plane shows [-VIEW, VIEW] x [-VIEW, VIEW]
  var COLORS = ["#c62828", "#2e7d32", "#1565c0"];
  var REGION_COLORS = [[239, 154, 154], [165, 214, 167], [144, 202, 249]];
  // CS231n's linear-classification demo starts from this W and b.
  var INITIAL_W = [[1, 2, 0], [2, -4, 0.5], [3, -1, -0.5]];

  /** Three classes of 8 points each, around three centres (seeded, so the page always opens the same). */
  function initialPoints() {
    var random = L.makeRandom(7), centres = [[0, 1.6], [-1.4, -0.8], [1.4, -0.8]];
    var points = [], labels = [];
    for (var k = 0; k < 8; k++) {
      for (var c = 0; c < 3; c++) {
        points.push([centres[c][0] + 0.7 * random.normal(), centres[c][1] + 0.7 * random.normal()]);
        labels.push(c);
      }
    }
    return { points: points, labels: labels };
  }

  var start = initialPoints();
  var lab = {
    points: start.points,            // N rows of (x0, x1)
    labels: start.labels,            // N ints in 0..2
    W: copy(INITIAL_W),              // 3 rows of (w0, w1, b)
    loss: "svm",
    reg: 0.1,
    stepSize: 0.1,
    batchSize: start.points.length,
    logH: -4,                        // the lecture's h = 1e-4
    method: "central",
    trials: 100,
    scale: 1,
    random: L.makeRandom(2024),      // the minibatches and the searches
    steps: 0,
    history: [],                     // {full, batch, kind}, one per update
    lastBatch: [],
    selected: -1,
    newClass: 0,
    timer: null
  };

  function copy(W) { return W.map(function (row) { return row.slice(); }); }

  /** X with the bias trick: every point (x0, x1) becomes (x0, x1, 1). */
  function designMatrix(indices) {
    var rows = indices || lab.points.map(function (_, i) { return i; });
    return rows.map(function (i) { return [lab.points[i][0], lab.points[i][1], 1]; });
  }

  function labelsOf(indices) {
    return indices ? indices.map(function (i) { return lab.labels[i]; }) : lab.labels.slice();
  }

  function N() { return lab.points.length; }

  /** The total loss of W on all the points (or on the rows `indices`); 0 data loss when there is no point. */
  function lossOf(W, indices) {
    if (N() === 0) return lab.reg * L.l2Penalty(W);
    return L.lossParts(lab.loss, W, designMatrix(indices), labelsOf(indices), lab.reg).total;
  }

  function parts() {
    if (N() === 0) {
      var r = lab.reg * L.l2Penalty(lab.W);
      return { data: 0, reg: r, total: r };
    }
    return L.lossParts(lab.loss, lab.W, designMatrix(), labelsOf(), lab.reg);
  }

  /** The curve starts again (the problem changed): one point, the loss now. */
  function restartCurve() {
    lab.steps = 0;
    lab.history = [{ full: parts().total, batch: null, kind: "start" }];
    lab.lastBatch = [];
  }

  // ---------------------------------------------------------------------------
  // The optimizers: one SGD step, and the two searches.
  // ---------------------------------------------------------------------------

  function fullBatch() { return lab.batchSize >= N(); }

  /** One step: the gradient on a minibatch (or on every point), then W = W - step size * dW. */
  function step() {
    if (N() === 0) return;
    var indices = fullBatch() ? null : L.sampleBatch(N(), lab.batchSize, lab.random);
    var out = L.lossParts(lab.loss, lab.W, designMatrix(indices), labelsOf(indices), lab.reg);
    lab.W = L.sgdUpdate(lab.W, out.grad, lab.stepSize);
    lab.steps += 1;
    lab.lastBatch = indices || [];
    lab.history.push({ full: parts().total, batch: indices ? out.total : null, kind: "step" });
    render(false);
  }

  function search(kind) {
    var f = function (W) { return lossOf(W); };
    var found = kind === "random search"
      ? L.randomSearch(f, lab.W, lab.trials, lab.scale, lab.random)
      : L.randomLocalSearch(f, lab.W, lab.trials, lab.stepSize, lab.random);
    var before = parts().total;
    lab.W = found.W;
    lab.history.push({ full: found.loss, batch: null, kind: kind });
    text("search-status", kind + ": " + lab.trials + " trials, the loss " + fmt(before) + " \u2192 " +
         fmt(found.loss));
    render(false);
  }

  function setRunning(on) {
    var button = byId("run");
    if (on && !lab.timer) {
      lab.timer = window.setInterval(step, 60);
    } else if (!on && lab.timer) {
      window.clearInterval(lab.timer);
      lab.timer = null;
    }
    button.textContent = lab.timer ? "Pause" : "Run";
    button.setAttribute("aria-pressed", lab.timer ? "true" : "false");
  }

  // ---------------------------------------------------------------------------
  // Drawing: the plane (regions, zero lines, points) and the loss curve.
  // ---------------------------------------------------------------------------

  function byId(id) { return document.getElementById(id); }
  function text(id, value) { byId(id).textContent = value; }

  function fmt(v) {
    if (!isFinite(v)) return String(v);
    if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(3);
    return v.toFixed(4);
  }

  function toPixel(canvas, p) {
    return [(p[0] + VIEW) / (2 * VIEW) * canvas.width, (VIEW - p[1]) / (2 * VIEW) * canvas.height];
  }

  function toWorld(canvas, px, py) {
    return [px / canvas.width * 2 * VIEW - VIEW, VIEW - py / canvas.height * 2 * VIEW];
  }

  function drawRegions(ctx, canvas) {
    var cell = 4, image = ctx.createImageData(canvas.width, canvas.height), data = image.data;
    for (var py = 0; py < canvas.height; py += cell) {
      for (var px = 0; px < canvas.width; px += cell) {
        var w = toWorld(canvas, px + cell / 2, py + cell / 2);
        var rgb = REGION_COLORS[L.predict(lab.W, [w[0], w[1], 1])];
        for (var dy = 0; dy < cell && py + dy < canvas.height; dy++) {
          for (var dx = 0; dx < cell && px + dx < canvas.width; dx++) {
            var o = 4 * ((py + dy) * canvas.width + px + dx);
            data[o] = rgb[0]; data[o + 1] = rgb[1]; data[o + 2] = rgb[2]; data[o + 3] = 255;
          }
        }
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  function drawAxes(ctx, canvas) {
    ctx.strokeStyle = "rgba(0, 0, 0, 0.25)";
    ctx.lineWidth = 1;
    var o = toPixel(canvas, [0, 0]);
    ctx.beginPath();
    ctx.moveTo(0, o[1]); ctx.lineTo(canvas.width, o[1]);
    ctx.moveTo(o[0], 0); ctx.lineTo(o[0], canvas.height);
    ctx.stroke();
  }

  /** Each class's line w . x + b = 0, and an arrow along w (where its score grows). */
  function drawZeroLines(ctx, canvas) {
    lab.W.forEach(function (row, c) {
      var w0 = row[0], w1 = row[1], b = row[2], norm2 = w0 * w0 + w1 * w1;
      if (norm2 === 0) return;
      var foot = [-b * w0 / norm2, -b * w1 / norm2], along = [-w1, w0];
      var a = toPixel(canvas, [foot[0] - 100 * along[0], foot[1] - 100 * along[1]]);
      var z = toPixel(canvas, [foot[0] + 100 * along[0], foot[1] + 100 * along[1]]);
      ctx.strokeStyle = COLORS[c];
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(z[0], z[1]); ctx.stroke();
      var norm = Math.sqrt(norm2), tip = [foot[0] + 0.5 * w0 / norm, foot[1] + 0.5 * w1 / norm];
      var p = toPixel(canvas, foot), q = toPixel(canvas, tip);
      ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
      ctx.beginPath(); ctx.arc(q[0], q[1], 3.5, 0, 2 * Math.PI); ctx.fillStyle = COLORS[c]; ctx.fill();
    });
  }

  function drawMarker(ctx, c, x, y, r) {
    ctx.beginPath();
    if (c === 0) ctx.arc(x, y, r, 0, 2 * Math.PI);
    else if (c === 1) ctx.rect(x - r, y - r, 2 * r, 2 * r);
    else { ctx.moveTo(x, y - 1.2 * r); ctx.lineTo(x + 1.1 * r, y + 0.8 * r); ctx.lineTo(x - 1.1 * r, y + 0.8 * r); ctx.closePath(); }
  }

  function drawPoints(ctx, canvas) {
    var inBatch = {};
    lab.lastBatch.forEach(function (i) { inBatch[i] = true; });
    lab.points.forEach(function (p, i) {
      var q = toPixel(canvas, p), c = lab.labels[i];
      drawMarker(ctx, c, q[0], q[1], 6);
      ctx.fillStyle = COLORS[c];
      ctx.fill();
      ctx.lineWidth = inBatch[i] ? 3 : 1.2;
      ctx.strokeStyle = inBatch[i] ? "#000" : "#fff";
      ctx.stroke();
      if (i === lab.selected) {
        ctx.beginPath(); ctx.arc(q[0], q[1], 11, 0, 2 * Math.PI);
        ctx.lineWidth = 2.5; ctx.strokeStyle = "#ff9800"; ctx.stroke();
      }
    });
  }

  function drawPlane() {
    var canvas = byId("plane"), ctx = canvas.getContext("2d");
    drawRegions(ctx, canvas);
    drawAxes(ctx, canvas);
    drawZeroLines(ctx, canvas);
    drawPoints(ctx, canvas);
  }

  function drawCurve() {
    var canvas = byId("curve"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    var left = 46, right = 10, top = 10, bottom = 26;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    var values = [];
    lab.history.forEach(function (e) { values.push(e.full); if (e.batch !== null) values.push(e.batch); });
    values = values.filter(isFinite);
    var high = values.length ? Math.max.apply(null, values) : 1;
    if (!(high > 0)) high = 1;
    var count = Math.max(lab.history.length - 1, 1);
    function x(k) { return left + (W - left - right) * k / count; }
    function y(v) { return top + (H - top - bottom) * (1 - Math.min(v, high) / high); }
    // axes and labels
    ctx.strokeStyle = "#888"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, H - bottom); ctx.lineTo(W - right, H - bottom); ctx.stroke();
    ctx.fillStyle = "#444"; ctx.font = "13px sans-serif";
    ctx.textAlign = "right";
    ctx.fillText(fmt(high).replace(/0+$/, "").replace(/\.$/, ""), left - 4, top + 8);
    ctx.fillText("0", left - 4, H - bottom);
    ctx.textAlign = "center";
    ctx.fillText("update " + (lab.history.length - 1), W - 40, H - 8);
    ctx.fillText("loss", left - 24, (top + H - bottom) / 2);
    // the minibatch losses: grey dots
    ctx.fillStyle = "#9e9e9e";
    lab.history.forEach(function (e, k) {
      if (e.batch === null || !isFinite(e.batch)) return;
      ctx.beginPath(); ctx.arc(x(k), y(e.batch), 2.5, 0, 2 * Math.PI); ctx.fill();
    });
    // the loss on all the points: a line
    ctx.strokeStyle = "#3f51b5"; ctx.lineWidth = 2;
    ctx.beginPath();
    lab.history.forEach(function (e, k) { if (k === 0) ctx.moveTo(x(k), y(e.full)); else ctx.lineTo(x(k), y(e.full)); });
    ctx.stroke();
    if (lab.history.length === 1) { ctx.fillStyle = "#3f51b5"; ctx.fillRect(x(0) - 3, y(lab.history[0].full) - 3, 6, 6); }
    // the searches: purple diamonds
    ctx.fillStyle = "#8e24aa";
    lab.history.forEach(function (e, k) {
      if (e.kind !== "random search" && e.kind !== "random local search") return;
      var cx = x(k), cy = y(e.full);
      ctx.beginPath(); ctx.moveTo(cx, cy - 5); ctx.lineTo(cx + 5, cy); ctx.lineTo(cx, cy + 5); ctx.lineTo(cx - 5, cy); ctx.closePath(); ctx.fill();
    });
  }

  // ---------------------------------------------------------------------------
  // The readouts: W's table, the losses, the gradient check.
  // ---------------------------------------------------------------------------

  function buildWeightTable() {
    var body = byId("weights").tBodies[0];
    body.innerHTML = "";
    lab.W.forEach(function (row, c) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row"; th.className = "c" + c; th.textContent = "class " + c;
      tr.appendChild(th);
      row.forEach(function (_, d) {
        var td = document.createElement("td"), input = document.createElement("input");
        input.type = "number"; input.step = "0.1"; input.id = "w-" + c + "-" + d;
        input.setAttribute("aria-label", (d < 2 ? "W[" + c + "][" + d + "]" : "b[" + c + "]"));
        input.addEventListener("input", function () {
          var v = parseFloat(input.value);
          if (!isFinite(v)) return;
          lab.W[c][d] = v;
          restartCurve();
          render(false);
        });
        td.appendChild(input);
        tr.appendChild(td);
      });
      var score = document.createElement("td");
      score.id = "score-" + c;
      tr.appendChild(score);
      body.appendChild(tr);
    });
  }

  function buildGradTable() {
    var body = byId("gradcheck").tBodies[0];
    body.innerHTML = "";
    for (var c = 0; c < 3; c++) {
      for (var d = 0; d < 3; d++) {
        var tr = document.createElement("tr");
        tr.innerHTML = "<th scope=\"row\">" + (d < 2 ? "W[" + c + "][" + d + "]" : "b[" + c + "]") + "</th>" +
          "<td id=\"ga-" + c + "-" + d + "\"></td><td id=\"gn-" + c + "-" + d + "\"></td><td id=\"ge-" + c + "-" + d + "\"></td>";
        body.appendChild(tr);
      }
    }
  }

  var FORMULAS = {
    svm: "L = 1/N \u03a3\u1d62 \u03a3_{j\u2260y\u1d62} max(0, s\u2c7c - s_{y\u1d62} + 1) + reg \u00b7 \u03a3 W\u00b2",
    softmax: "L = 1/N \u03a3\u1d62 -log(e^{s_{y\u1d62}} / \u03a3\u2c7c e^{s\u2c7c}) + reg \u00b7 \u03a3 W\u00b2"
  };

  function updateReadouts(syncInputs) {
    lab.W.forEach(function (row, c) {
      row.forEach(function (v, d) {
        var input = byId("w-" + c + "-" + d);
        if (syncInputs || document.activeElement !== input) input.value = v.toFixed(3);  // shown rounded; W keeps every digit
      });
      var p = lab.points[lab.selected];
      text("score-" + c, p ? fmt(row[0] * p[0] + row[1] * p[1] + row[2]) : "\u2013");
    });
    var out = parts();
    text("formula", FORMULAS[lab.loss]);
    text("data-loss", fmt(out.data));
    text("reg-loss", fmt(out.reg));
    text("total-loss", fmt(out.total));
    text("accuracy", N() ? (100 * L.accuracy(lab.W, designMatrix(), labelsOf())).toFixed(1) + " %" : "\u2013");
    text("step-count", "step " + lab.steps);
    text("batch-mode", fullBatch() ? "= N = " + N() + ": gradient descent" : "of N = " + N() + ": minibatch SGD");
    byId("batch-size").max = String(Math.max(N(), 1));
    var h = Math.pow(10, lab.logH);
    text("h-value", h.toExponential(1));
    if (N() === 0) { text("max-error", "\u2013"); text("verdict", "no points"); return; }
    var check = L.gradientCheck(lab.loss, lab.W, designMatrix(), labelsOf(), lab.reg, h, lab.method);
    for (var c = 0; c < 3; c++) {
      for (var d = 0; d < 3; d++) {
        text("ga-" + c + "-" + d, check.analytic[c][d].toPrecision(8));
        text("gn-" + c + "-" + d, check.numerical[c][d].toPrecision(8));
        text("ge-" + c + "-" + d, check.errors[c][d].toExponential(1));
      }
    }
    text("max-error", check.maxError.toExponential(2));
    var verdict = byId("verdict");
    verdict.textContent = check.verdict;
    verdict.className = "verdict-" + check.verdict;
  }

  function render(syncInputs) {
    drawPlane();
    drawCurve();
    updateReadouts(syncInputs);
  }

  // ---------------------------------------------------------------------------
  // Editing the points: pointer and keyboard.
  // ---------------------------------------------------------------------------

  function announcePoint() {
    var p = lab.points[lab.selected];
    text("point-status", p ? "point " + (lab.selected + 1) + " of " + N() + ", class " + lab.labels[lab.selected] +
         ", at (" + p[0].toFixed(2) + ", " + p[1].toFixed(2) + ")" : N() + " points");
  }

  function dataChanged() {
    if (lab.selected >= N()) lab.selected = N() - 1;
    if (lab.batchSize > N() || fullBatch()) { lab.batchSize = Math.max(N(), 1); byId("batch-size").value = String(lab.batchSize); }
    restartCurve();
    announcePoint();
    render(false);
  }

  function nearest(canvas, px, py) {
    var best = -1, bestDistance = 12;  // pixels
    lab.points.forEach(function (p, i) {
      var q = toPixel(canvas, p), distance = Math.hypot(q[0] - px, q[1] - py);
      if (distance < bestDistance) { best = i; bestDistance = distance; }
    });
    return best;
  }

  function canvasXY(canvas, event) {
    var box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  }

  function removePoint(i) {
    var wasFull = fullBatch();
    lab.points.splice(i, 1);
    lab.labels.splice(i, 1);
    if (wasFull) lab.batchSize = N();
    lab.selected = Math.min(lab.selected, N() - 1);
  }

  function addPoint(p) {
    var wasFull = fullBatch();
    lab.points.push(p);
    lab.labels.push(lab.newClass);
    if (wasFull) lab.batchSize = N();
    lab.selected = N() - 1;
  }

  function wirePlane() {
    var canvas = byId("plane"), dragging = -1;
    canvas.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    canvas.addEventListener("pointerdown", function (event) {
      var xy = canvasXY(canvas, event), i = nearest(canvas, xy[0], xy[1]);
      canvas.focus();
      if (i >= 0 && (event.shiftKey || event.button === 2)) {
        removePoint(i);
      } else if (i >= 0) {
        lab.selected = i;
        dragging = i;
        canvas.setPointerCapture(event.pointerId);
        announcePoint();
        render(false);
        return;               // only selected: the problem is unchanged
      } else if (event.button === 0) {
        addPoint(toWorld(canvas, xy[0], xy[1]));
        dragging = lab.selected;
        canvas.setPointerCapture(event.pointerId);
      }
      dataChanged();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (dragging < 0) return;
      var xy = canvasXY(canvas, event), w = toWorld(canvas, xy[0], xy[1]);
      lab.points[dragging] = [Math.max(-VIEW, Math.min(VIEW, w[0])), Math.max(-VIEW, Math.min(VIEW, w[1]))];
      dataChanged();
    });
    function stop() { dragging = -1; }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    canvas.addEventListener("keydown", function (event) {
      var k = event.key, move = event.shiftKey ? 0.25 : 0.05, handled = true;
      if (k === "n" || k === "p") {
        if (N()) lab.selected = ((lab.selected < 0 ? (k === "n" ? -1 : 0) : lab.selected) + (k === "n" ? 1 : -1) + N()) % N();
      } else if (k === "a" || k === "Insert") {
        addPoint([0, 0]);
      } else if ((k === "Delete" || k === "Backspace") && lab.selected >= 0) {
        removePoint(lab.selected);
      } else if (k.indexOf("Arrow") === 0 && N()) {
        if (lab.selected < 0) lab.selected = 0;
        var p = lab.points[lab.selected];
        var dx = k === "ArrowLeft" ? -move : k === "ArrowRight" ? move : 0;
        var dy = k === "ArrowDown" ? -move : k === "ArrowUp" ? move : 0;
        lab.points[lab.selected] = [Math.max(-VIEW, Math.min(VIEW, p[0] + dx)), Math.max(-VIEW, Math.min(VIEW, p[1] + dy))];
      } else {
        handled = false;
      }
      if (handled) { event.preventDefault(); dataChanged(); }
    });
  }

  // ---------------------------------------------------------------------------
  // The controls.
  // ---------------------------------------------------------------------------

  /** A number input: call set(value) when it holds a valid number in [min, max]. */
  function numberInput(id, set) {
    var input = byId(id);
    input.addEventListener("input", function () {
      var v = parseFloat(input.value), min = parseFloat(input.min), max = parseFloat(input.max);
      var valid = isFinite(v) && !(v < min) && !(v > max);
      input.setAttribute("aria-invalid", valid ? "false" : "true");
      if (valid) set(v);
    });
  }

  function wireControls() {
    document.querySelectorAll("input[name=new-class]").forEach(function (radio) {
      radio.addEventListener("change", function () { lab.newClass = parseInt(radio.value, 10); });
    });
    document.querySelectorAll("input[name=loss]").forEach(function (radio) {
      radio.addEventListener("change", function () { lab.loss = radio.value; restartCurve(); render(false); });
    });
    numberInput("reg", function (v) { lab.reg = v; restartCurve(); render(false); });
    numberInput("step-size", function (v) { lab.stepSize = v; });
    numberInput("batch-size", function (v) { lab.batchSize = Math.max(1, Math.round(v)); render(false); });
    numberInput("trials", function (v) { lab.trials = Math.max(1, Math.round(v)); });
    numberInput("scale", function (v) { lab.scale = v; });
    byId("log-h").addEventListener("input", function () { lab.logH = parseFloat(byId("log-h").value); render(false); });
    byId("method").addEventListener("change", function () { lab.method = byId("method").value; render(false); });
    byId("step").addEventListener("click", step);
    byId("run").addEventListener("click", function () { setRunning(!lab.timer); });
    byId("random-search").addEventListener("click", function () { search("random search"); });
    byId("random-local-search").addEventListener("click", function () { search("random local search"); });
    byId("reset-w").addEventListener("click", function () { lab.W = copy(INITIAL_W); restartCurve(); render(true); });
    byId("reset-data").addEventListener("click", function () {
      var fresh = initialPoints();
      lab.points = fresh.points; lab.labels = fresh.labels; lab.selected = -1; lab.batchSize = N();
      byId("batch-size").value = String(N());
      dataChanged();
    });
  }

  /** The demo's current state: W (3 rows of w0, w1, b), its total loss, and what produced it. */
  L.state = function () {
    var out = parts();
    return {
      W: copy(lab.W), loss: out.total, dataLoss: out.data, regLoss: out.reg,
      lossName: lab.loss, reg: lab.reg, stepSize: lab.stepSize, batchSize: lab.batchSize,
      steps: lab.steps, N: N(), running: lab.timer !== null, lastBatch: lab.lastBatch.slice(),
      X: designMatrix(), y: labelsOf(), h: Math.pow(10, lab.logH), method: lab.method,
      history: lab.history.map(function (e) { return { full: e.full, batch: e.batch, kind: e.kind }; })
    };
  };

  buildWeightTable();
  buildGradTable();
  wirePlane();
  wireControls();
  byId("batch-size").value = String(lab.batchSize);
  restartCurve();
  announcePoint();
  render(true);
})();
