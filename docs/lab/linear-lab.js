/*
 * linear-lab.js -- the lab's maths: the lecture's linear classifier in plain JavaScript.
 *
 * It is the Python package's maths (jaxopt_course.losses, .gradcheck, .search,
 * .sgd) written again for the browser, in the same words and conventions, and
 * tests/test_lab.py checks it against the package in float64 (JavaScript numbers
 * are float64) to a relative 1e-9 on random cases:
 *
 *   scores   s_i = W x_i            W: C rows of D numbers, the bias last;
 *                                    x_i: D numbers ending in 1 (the bias trick)
 *   SVM      L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin), margin (Delta) = 1
 *            (Weston--Watkins; a margin counts when it is > 0, as the package's mask)
 *   softmax  L_i = -log(e^{s_{y_i}} / sum_j e^{s_j})  (natural log, shifted by max_j s_j)
 *   total    L(W) = 1/N sum_i L_i + reg * R(W),  R(W) = sum W^2 over every entry,
 *            the bias column included (as the package), so dR/dW = 2 W
 *
 * Everything here is a pure function of its arguments; randomness comes only
 * from an explicit generator made by makeRandom(seed). Loaded by a classic
 * <script> tag (so the page also works from file://), it defines
 * window.linearLab; the page script (lab.js) adds state() to it.
 */
(function (root) {
  "use strict";

  // ---------------------------------------------------------------------------
  // Validation at the boundary: the message names the argument, the expected
  // and the actual value (as the Python package does).
  // ---------------------------------------------------------------------------

  function describe(value) {
    if (Array.isArray(value)) return "an array of length " + value.length;
    if (value === null || value === undefined) return String(value);
    return typeof value + " " + String(value);
  }

  function checkMatrix(M, name, where) {
    if (!Array.isArray(M) || M.length === 0 || !Array.isArray(M[0])) {
      throw new TypeError(where + ": " + name + " must be an array of rows of numbers, got " + describe(M));
    }
    var width = M[0].length;
    for (var r = 0; r < M.length; r++) {
      if (!Array.isArray(M[r]) || M[r].length !== width) {
        throw new TypeError(where + ": " + name + " must have rows of equal length " + width +
                            ", got row " + r + " as " + describe(M[r]));
      }
      for (var k = 0; k < width; k++) {
        if (typeof M[r][k] !== "number" || !isFinite(M[r][k])) {
          throw new TypeError(where + ": " + name + "[" + r + "][" + k + "] must be a finite number, got " +
                              describe(M[r][k]));
        }
      }
    }
    return width;
  }

  function checkProblem(W, X, y, reg, where) {
    var D = checkMatrix(W, "W", where);
    var DX = checkMatrix(X, "X", where);
    if (D !== DX) {
      throw new TypeError(where + ": W (C, D) and X (N, D) disagree on D: W has rows of " + D +
                          " numbers, X rows of " + DX + " (each x ends in 1, the bias trick)");
    }
    if (!Array.isArray(y) || y.length !== X.length) {
      throw new TypeError(where + ": y must have one label per row of X (N=" + X.length + "), got " + describe(y));
    }
    for (var i = 0; i < y.length; i++) {
      if (!Number.isInteger(y[i]) || y[i] < 0 || y[i] >= W.length) {
        throw new RangeError(where + ": y[" + i + "] must be an integer label in [0, " + W.length + "), got " +
                             describe(y[i]));
      }
    }
    if (typeof reg !== "number" || !(reg >= 0) || !isFinite(reg)) {
      throw new RangeError(where + ": reg must be a finite number >= 0, got " + describe(reg));
    }
  }

  // ---------------------------------------------------------------------------
  // Scores and the two data losses, per example.
  // ---------------------------------------------------------------------------

  /** s = W x for one example x (D numbers): C scores. */
  function scoresOf(W, x) {
    var s = new Array(W.length);
    for (var c = 0; c < W.length; c++) {
      var total = 0;
      for (var d = 0; d < x.length; d++) total += W[c][d] * x[d];
      s[c] = total;
    }
    return s;
  }

  /** The scores of every example: N rows of C numbers. */
  function scores(W, X) {
    return X.map(function (x) { return scoresOf(W, x); });
  }

  /** The class with the largest score (the first on a tie). */
  function predict(W, x) {
    var s = scoresOf(W, x), best = 0;
    for (var c = 1; c < s.length; c++) if (s[c] > s[best]) best = c;
    return best;
  }

  /** R(W) = sum of W[c][d]^2 over every entry (the bias column too). */
  function l2Penalty(W) {
    var total = 0;
    for (var c = 0; c < W.length; c++) for (var d = 0; d < W[c].length; d++) total += W[c][d] * W[c][d];
    return total;
  }

  /** One example's SVM loss and dL_i/ds (C numbers): margins m_j = s_j - s_y + margin, counted when > 0. */
  function svmExample(s, label, margin) {
    var loss = 0, dscores = new Array(s.length).fill(0);
    for (var j = 0; j < s.length; j++) {
      if (j === label) continue;
      var m = s[j] - s[label] + margin;
      if (m > 0) {
        loss += m;
        dscores[j] += 1;
        dscores[label] -= 1;
      }
    }
    return { loss: loss, dscores: dscores };
  }

  /** One example's softmax loss log(sum_j e^{s_j}) - s_y, on the scores shifted by their maximum, and dL_i/ds = p - onehot(y). */
  function softmaxExample(s, label) {
    var shift = Math.max.apply(null, s), sumExp = 0, j;
    var e = new Array(s.length);
    for (j = 0; j < s.length; j++) { e[j] = Math.exp(s[j] - shift); sumExp += e[j]; }
    var loss = Math.log(sumExp) - (s[label] - shift);
    var dscores = e.map(function (v) { return v / sumExp; });
    dscores[label] -= 1;
    return { loss: loss, dscores: dscores };
  }

  // ---------------------------------------------------------------------------
  // The total loss, its parts and its gradient (the hand-derived one, which is
  // what jax.grad of the package's loss computes).
  // ---------------------------------------------------------------------------

  function lossAndGrad(example, W, X, y, reg, wantGrad) {
    var C = W.length, D = W[0].length, N = X.length, dataLoss = 0;
    var dW = wantGrad ? W.map(function (row) { return row.map(function () { return 0; }); }) : null;
    for (var i = 0; i < N; i++) {
      var out = example(scoresOf(W, X[i]), y[i]);
      dataLoss += out.loss;
      if (wantGrad) {
        for (var c = 0; c < C; c++) {
          if (out.dscores[c] === 0) continue;
          for (var d = 0; d < D; d++) dW[c][d] += out.dscores[c] * X[i][d];
        }
      }
    }
    dataLoss /= N;
    var regLoss = reg * l2Penalty(W);
    if (wantGrad) {
      for (var c2 = 0; c2 < C; c2++) for (var d2 = 0; d2 < D; d2++) dW[c2][d2] = dW[c2][d2] / N + 2 * reg * W[c2][d2];
    }
    return { data: dataLoss, reg: regLoss, total: dataLoss + regLoss, grad: dW };
  }

  function svmOf(margin) {
    return function (s, label) { return svmExample(s, label, margin); };
  }

  function marginOr1(margin, where) {
    if (margin === undefined) return 1;
    if (typeof margin !== "number" || !(margin >= 0) || !isFinite(margin)) {
      throw new RangeError(where + ": margin must be a finite number >= 0, got " + describe(margin));
    }
    return margin;
  }

  /** L(W) = 1/N sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + margin) + reg * sum W^2 (margin 1 unless given). */
  function svmLoss(W, X, y, reg, margin) {
    checkProblem(W, X, y, reg, "svmLoss");
    return lossAndGrad(svmOf(marginOr1(margin, "svmLoss")), W, X, y, reg, false).total;
  }

  /** dL/dW of svmLoss: C rows of D numbers. */
  function svmGrad(W, X, y, reg, margin) {
    checkProblem(W, X, y, reg, "svmGrad");
    return lossAndGrad(svmOf(marginOr1(margin, "svmGrad")), W, X, y, reg, true).grad;
  }

  /** L(W) = 1/N sum_i -log(e^{s_{y_i}} / sum_j e^{s_j}) + reg * sum W^2. */
  function softmaxLoss(W, X, y, reg) {
    checkProblem(W, X, y, reg, "softmaxLoss");
    return lossAndGrad(softmaxExample, W, X, y, reg, false).total;
  }

  /** dL/dW of softmaxLoss: C rows of D numbers. */
  function softmaxGrad(W, X, y, reg) {
    checkProblem(W, X, y, reg, "softmaxGrad");
    return lossAndGrad(softmaxExample, W, X, y, reg, true).grad;
  }

  var EXAMPLES = { svm: svmOf(1), softmax: softmaxExample };

  function exampleLoss(name) {
    if (!Object.prototype.hasOwnProperty.call(EXAMPLES, name)) {
      throw new RangeError("loss must be \"svm\" or \"softmax\", got " + describe(name));
    }
    return EXAMPLES[name];
  }

  /** {data, reg, total, grad} of the loss called name ("svm" or "softmax"): the data loss, reg * R(W), their sum, dL/dW. */
  function lossParts(name, W, X, y, reg) {
    checkProblem(W, X, y, reg, "lossParts");
    return lossAndGrad(exampleLoss(name), W, X, y, reg, true);
  }

  /** The fraction of examples whose largest score is their label's. */
  function accuracy(W, X, y) {
    var right = 0;
    for (var i = 0; i < X.length; i++) if (predict(W, X[i]) === y[i]) right++;
    return X.length ? right / X.length : 0;
  }

  // ---------------------------------------------------------------------------
  // The numerical gradient and its check (gradcheck.py's definitions).
  // ---------------------------------------------------------------------------

  function copyOf(W) { return W.map(function (row) { return row.slice(); }); }

  /**
   * One finite difference per weight: "forward" (f(W + h e_k) - f(W)) / h, the
   * lecture's formula, or "central" (f(W + h e_k) - f(W - h e_k)) / (2 h).
   */
  function numericalGrad(f, W, h, method) {
    if (typeof h !== "number" || !(h > 0) || !isFinite(h)) {
      throw new RangeError("numericalGrad: h must be a finite number > 0, got " + describe(h));
    }
    method = method || "central";
    if (method !== "central" && method !== "forward") {
      throw new RangeError("numericalGrad: method must be \"central\" or \"forward\", got " + describe(method));
    }
    var base = method === "forward" ? f(W) : 0;
    var grad = copyOf(W), Wh = copyOf(W);
    for (var c = 0; c < W.length; c++) {
      for (var d = 0; d < W[c].length; d++) {
        var old = W[c][d];
        Wh[c][d] = old + h;
        var plus = f(Wh);
        if (method === "forward") {
          grad[c][d] = (plus - base) / h;
        } else {
          Wh[c][d] = old - h;
          grad[c][d] = (plus - f(Wh)) / (2 * h);
        }
        Wh[c][d] = old;
      }
    }
    return grad;
  }

  /** |a - b| / max(|a|, |b|), 0 where both are 0 (the CS231n notes' relative error). */
  function relativeError(a, b) {
    var scale = Math.max(Math.abs(a), Math.abs(b));
    return scale === 0 ? 0 : Math.abs(a - b) / scale;
  }

  /** CS231n's thresholds: above VERDICT_THRESHOLDS[v] the verdict is v (checked worst first). */
  var VERDICT_THRESHOLDS = { wrong: 1e-2, uncomfortable: 1e-4, ok: 1e-7 };

  /**
   * CS231n's reading of a relative error: "wrong" (> 1e-2), "uncomfortable" (1e-4 .. 1e-2), "ok" (1e-7 .. 1e-4)
   * for an objective with kinks (smooth false: the SVM) but "uncomfortable" -- too high -- for a smooth one
   * (smooth true: softmax), "good" (<= 1e-7); NaN is "wrong". As the package's gradcheck.verdict_of.
   */
  function verdictOf(error, smooth) {
    if (typeof smooth !== "boolean") {
      throw new TypeError("verdictOf: smooth must be true or false, got " + describe(smooth));
    }
    var order = ["wrong", "uncomfortable", "ok"];
    for (var k = 0; k < order.length; k++) {
      if (!(error <= VERDICT_THRESHOLDS[order[k]])) return order[k] === "ok" && smooth ? "uncomfortable" : order[k];
    }
    return "good";
  }

  /** Numerical against analytic, weight by weight: {numerical, analytic, errors, maxError, verdict}. */
  function gradientCheck(name, W, X, y, reg, h, method) {
    var example = exampleLoss(name);
    var analytic = lossParts(name, W, X, y, reg).grad;
    var numerical = numericalGrad(function (V) { return lossAndGrad(example, V, X, y, reg, false).total; },
                                  W, h, method);
    var errors = analytic.map(function (row, c) {
      return row.map(function (v, d) { return relativeError(v, numerical[c][d]); });
    });
    var maxError = Math.max.apply(null, [].concat.apply([], errors));
    var smooth = name === "softmax";  // the SVM has kinks
    return { numerical: numerical, analytic: analytic, errors: errors, maxError: maxError,
             verdict: verdictOf(maxError, smooth) };
  }

  // ---------------------------------------------------------------------------
  // Randomness (explicit and seeded), search without gradients, one SGD step.
  // ---------------------------------------------------------------------------

  /** A seeded generator (mulberry32): {uniform() in [0, 1), normal(), integer(n) in [0, n)}. */
  function makeRandom(seed) {
    var a = (seed >>> 0) || 1;
    function uniform() {
      a = (a + 0x6d2b79f5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
    function normal() { // Box--Muller
      var u = 1 - uniform(), v = uniform();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    function integer(n) { return Math.floor(uniform() * n); }
    return { uniform: uniform, normal: normal, integer: integer };
  }

  function randomLike(W, scale, random) {
    return W.map(function (row) { return row.map(function () { return scale * random.normal(); }); });
  }

  /** The lecture's random search: `trials` W = scale * randn, keep the one of lowest loss f(W). */
  function randomSearch(f, W, trials, scale, random) {
    var best = { W: null, loss: Infinity };
    for (var t = 0; t < trials; t++) {
      var Wtry = randomLike(W, scale, random), loss = f(Wtry);
      if (loss < best.loss) best = { W: Wtry, loss: loss };
    }
    return best;
  }

  /** The lecture's random local search: from W, try W + stepSize * randn `trials` times, move when the loss falls. */
  function randomLocalSearch(f, W, trials, stepSize, random) {
    var best = { W: copyOf(W), loss: f(W) };
    for (var t = 0; t < trials; t++) {
      var noise = randomLike(W, stepSize, random);
      var Wtry = best.W.map(function (row, c) { return row.map(function (v, d) { return v + noise[c][d]; }); });
      var loss = f(Wtry);
      if (loss < best.loss) best = { W: Wtry, loss: loss };
    }
    return best;
  }

  /** batchSize indices drawn uniformly from 0 .. N-1 with replacement (CS231n's np.random.choice). */
  function sampleBatch(N, batchSize, random) {
    var idx = new Array(batchSize);
    for (var b = 0; b < batchSize; b++) idx[b] = random.integer(N);
    return idx;
  }

  /** The lecture's update W = W + -stepSize * dW. */
  function sgdUpdate(W, dW, stepSize) {
    return W.map(function (row, c) { return row.map(function (v, d) { return v - stepSize * dW[c][d]; }); });
  }

  root.linearLab = {
    scores: scores, predict: predict, accuracy: accuracy, l2Penalty: l2Penalty,
    svmLoss: svmLoss, svmGrad: svmGrad, softmaxLoss: softmaxLoss, softmaxGrad: softmaxGrad,
    lossParts: lossParts, numericalGrad: numericalGrad, relativeError: relativeError,
    VERDICT_THRESHOLDS: VERDICT_THRESHOLDS, verdictOf: verdictOf, gradientCheck: gradientCheck,
    makeRandom: makeRandom, randomSearch: randomSearch, randomLocalSearch: randomLocalSearch,
    sampleBatch: sampleBatch, sgdUpdate: sgdUpdate
  };
})(typeof window !== "undefined" ? window : globalThis);
