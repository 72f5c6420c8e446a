"""TextEncoderExporter: the model's towers as Task Library-ready .tflite files."""
