"""SearcherBuilder: Embeddings + text encoder -> searcher.tflite, image_searcher.tflite and
a server-side ScaNN index."""
