"""`t2i serve`: the local web app (search page, runs, lineage, diff, JSON API). TF-free."""
