"""Planning core of ToG: resource types, tool specs, the tool graph, ToG search and plan models.

This package imports no model code and no torch, so planning and ``tog --help`` stay fast.
"""
