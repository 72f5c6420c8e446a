"""The t2i app: DAG definitions, config, runners, schedules, lineage and the CLI."""

from components.common import runtime_env as _runtime_env  # noqa: F401  (sets the process environment)

# The custom artifact types by the names they carry (TYPE_NAME `t2i.<Class>`). On Kubeflow /
# Vertex that name is the artifact's schema title, and TFX's container entrypoint imports a
# custom type by its title as a class path (kubeflow_v2_entrypoint_utils._retrieve_class_path):
# `t2i.Embeddings` must resolve here. KFP's title pattern allows one module level only.
# Resolved on first use: they import TFX, which `import t2i` must not.
_ARTIFACT_TYPES = ("Embeddings", "TextEncoder", "Searcher", "SearcherBlessing")


def __getattr__(name: str):
    if name in _ARTIFACT_TYPES:
        from components.common import artifacts

        return getattr(artifacts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
