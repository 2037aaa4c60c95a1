"""Drawing and judging cases: `call` (one call of a kernel and its oracle, the failures it can
raise), `tolerance` (the bound per dtype and reduction length), `properties/` (one module per
kind of property), `strategies` and `regions` (hypothesis strategies by region and what a drawn
case reaches), `driver` (a property searched and shrunk with hypothesis: a CheckTask),
`inherited` (whether PyTorch's own op fails the same way), `captured`, `flags` and `held` (the
warnings, PyTorch settings and memory around a call). Imports `plugins` and below."""
