"""ImageEmbedder: embeds every image of the Examples' index split with the model's image
tower on Apache Beam (RunInference) and writes a t2i.Embeddings artifact.

Modules: options.py (EmbedderOptions), component.py (TFX spec), executor.py (Do ->
work.embed_images), work.py (the Beam pipeline and its checks), beam_stages.py (DoFns and
the statistics combiner), model_handler.py (RunInference handler over the SavedModel's
serving signature), carry_over.py (a rebuild's previous embeddings), execution_plan.py
(record-count estimate and local execution mode). The output files' format
is components/common/embeddings_io.py. Importing this package imports nothing heavy;
import the modules you need.
"""
