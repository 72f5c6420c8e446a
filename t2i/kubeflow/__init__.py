"""Kubeflow Pipelines and Vertex AI: compiler.py (the DAGs -> KFP spec and Vertex job,
offline), client.py (connect, submit, wait), recurring.py (recurring runs), vertex.py
(Vertex AI jobs), errors.py (one readable, credential-free line per SDK failure)."""
