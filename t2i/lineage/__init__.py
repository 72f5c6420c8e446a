"""Lineage and history from ML Metadata, TF-free and TFX-free: graph.py (what a target
names, tracing), render.py (text, JSON, DOT, HTML), diff.py (two pushed versions),
history.py (run and artifact listings)."""
