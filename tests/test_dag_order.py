"""The full DAG records the evaluation before anything that can fail for device reasons."""

from t2i import run_environment
from t2i.configs import Config
from t2i.dags import create_pipeline


def _upstream_closure(node) -> set[str]:
    seen, todo = set(), [node]
    while todo:
        for parent in todo.pop().upstream_nodes:
            if parent.id not in seen:
                seen.add(parent.id)
                todo.append(parent)
    return seen


def test_the_evaluator_runs_before_the_exporter_and_the_device_steps(tmp_path):
    config = Config()
    config.pipeline.root = str(tmp_path)
    nodes = {
        node.id: node for node in create_pipeline(config, run_environment.local(config)).components
    }
    for device_step in ("TextEncoderExporter", "SearcherBuilder", "SearcherValidator"):
        assert "RetrievalEvaluator" in _upstream_closure(nodes[device_step]), device_step
    assert "TextEncoderExporter" not in _upstream_closure(nodes["RetrievalEvaluator"])
