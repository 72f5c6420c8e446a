"""SearcherValidator: the Task Library loads the searcher; ANN recall vs exact search."""
