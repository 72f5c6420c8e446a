"""RetrievalEvaluator: recall@K of the trained towers on the eval split -> ModelEvaluation
and ModelBlessing (component.py spec, executor.py work, metrics.py, blessing.py, figures.py)."""
