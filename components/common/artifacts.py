"""Custom artifact types. Imports TFX: only component.py / executor.py modules import this.

Names match KFP v2's `^[a-z][a-z0-9-_]{2,20}[.][A-Z][a-zA-Z0-9-_]{2,49}$` and PROPERTIES
stays empty (figures go in custom properties), so both DAGs compile for Kubeflow.
"""

from typing import Any

from tfx.types.artifact import Artifact


class Embeddings(Artifact):
    """Image embeddings: sharded TFRecord of {image_id, embedding, metadata}."""

    TYPE_NAME = "t2i.Embeddings"
    PROPERTIES: dict[str, Any] = {}


class TextEncoder(Artifact):
    """The text tower as .tflite with Task Library tokenizer metadata (and the image tower)."""

    TYPE_NAME = "t2i.TextEncoder"
    PROPERTIES: dict[str, Any] = {}


class Searcher(Artifact):
    """searcher.tflite + image_searcher.tflite + a server-side ScaNN index."""

    TYPE_NAME = "t2i.Searcher"
    PROPERTIES: dict[str, Any] = {}


class SearcherBlessing(Artifact):
    """The SearcherValidator's verdict: custom property `blessed` (1/0) and its figures."""

    TYPE_NAME = "t2i.SearcherBlessing"
    PROPERTIES: dict[str, Any] = {}
