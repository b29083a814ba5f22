"""The DARTS cell search space (14 edges per cell, normal and reduction cells, 8 or 7 ops).

Why a package: the space has several independent parts (architecture values in `genotype`, the surrogate judge
in `surrogate`, later the networks and the space object), and the value parts must import without torch.
"""
