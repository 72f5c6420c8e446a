"""RetrievalEvaluator: recall@K of the trained towers on the eval split -> ModelEvaluation
and ModelBlessing (component.py spec, executor.py Do, work.py evaluate, blessing.py, figures.py)."""
