"""CocoExampleGen: a COCO captions collection -> Examples (train / eval / index) + ingest report.

Modules: layout (where annotations and images are, spans), annotations (parse and check a
captions JSON), images (check and re-encode one image), plan (work items and splits),
beam_ingest (the Beam pipeline), report (counts -> ingest_report.json and properties),
storage (local and remote files), work (the plain entry point: ingest), options, executor
and component (the TFX wrapping).
"""
