"""How kernels come in: `registry` (`@implements`, KnownFailure, special_inputs, the in-tree
`implementations/` modules, `--impl module:attr` with its signature check, the entry-point
group). Imports `ops` and below."""
