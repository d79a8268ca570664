// MathJax 3 for the whole site: the pages' maths (pymdownx.arithmatex, \( \) and \[ \])
// and the notebooks' (Jupyter's $ ... $ and $$ ... $$). Code and pre blocks are skipped.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
};
// Material's instant navigation swaps pages without a reload: typeset each new page.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) { MathJax.typesetPromise(); }
  });
}
