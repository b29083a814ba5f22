"""The DARTS cell search space (14 edges per cell, normal and reduction cells, 8 or 7 ops).

Modules: `genotype` (architecture values, op sets, derivation and region counts; no torch), `surrogate` (the
NB301-protocol judge; onnxruntime), `ops` / `network` / `supernet` (torch modules), `cost` (params and MAdds),
`inspect` / `query` (the commands' space parts) and `space` (the `SearchSpace` objects `darts` and `darts-s5`).
Nothing is imported here, so the value parts stay torch-free.
"""
