"""Persona in activation space: per-layer reply activations of in-process arms, persona directions
(the assistant axis, trait directions) and the projections of each record on them.

- `directions.py`: the directions file (safetensors + provenance), read without pickle.
"""
