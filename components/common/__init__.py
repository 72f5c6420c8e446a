"""Code shared by the custom components. Importing it must not import TensorFlow or TFX
(the on-device side and the CLI use the TF-free parts); `artifacts` is the exception."""
