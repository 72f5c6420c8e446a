"""Code shared by the custom components (a component imports only this package and its
own). Importing the package imports neither TensorFlow nor TFX (the on-device side and the
CLI use the TF-free modules); modules that need them import them themselves: artifacts and
spec (TFX), examples_io and tf_text (TensorFlow), tflite_metadata (tflite-support, in a
TF-free process only)."""
