"""Kubeflow: compiling with TFX's KubeflowV2DagRunner (pipeline spec 2.1, offline), then
submitting runs and recurring runs with the real kfp SDK over HTTP to a loopback stand-in
of the KFP v2beta1 API (tests/kfp_standin_server.py: a cluster cannot run here), and the
Vertex AI PipelineJob built from the compiled .json without sending it."""

import copy
import json
import os
import re
import socket

import pytest
import yaml
from click.testing import CliRunner

from t2i.kubeflow import client, compiler, recurring, vertex
from t2i.kubeflow.errors import KubeflowError
from t2i.schedule.cron import parse_cron
from t2i import run_environment
from t2i.cli import main
from t2i.configs import Config
from kfp_standin_server import StandinKfp

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "registry.example.com/t2i/t2i-searcher:test"
BUCKET = "gs://t2i-test-bucket"
PIPELINE_ROOT = f"{BUCKET}/root/pipelines/t2i-searcher"
TOKEN = "kfp-test-token-7f3a9c"  # must never show up in output, logs or files
INGESTION = ["CocoExampleGen", "DataGate", "ExampleValidator", "ImportSchemaGen", "StatisticsGen"]


@pytest.fixture(scope="module")
def config():
    config = Config()
    config.kubeflow.image = IMAGE
    config.kubeflow.pipeline_root = f"{BUCKET}/root"
    config.kubeflow.data_dir = f"{BUCKET}/data"
    config.kubeflow.serving_dir = f"{BUCKET}/serving"
    config.pipeline.beam_args = ["--direct_num_workers=2"]
    return config


@pytest.fixture(scope="module")
def dags():
    from t2i import dags  # imports TFX (docs/STACK.md §6), once for the module

    return dags


@pytest.fixture(scope="module")
def small(full):
    """The product's own full DAG (was a private copy of its first components)."""
    return full


@pytest.fixture(scope="module")
def full(tmp_path_factory, config, dags):
    return compiler.compile_pipeline(
        config, "full", out=str(tmp_path_factory.mktemp("full") / "full.yaml")
    )


@pytest.fixture(scope="module")
def rebuild(tmp_path_factory, config, dags):
    return compiler.compile_pipeline(
        config, "rebuild", out=str(tmp_path_factory.mktemp("rebuild") / "rebuild.yaml")
    )


def _spec(compiled) -> dict:
    with open(compiled.yaml_path) as f:
        return yaml.safe_load(f)


def _executors(spec) -> dict:
    return spec["deploymentSpec"]["executors"]


def _task_inputs(spec, task) -> dict:
    parameters = spec["root"]["dag"]["tasks"][task]["inputs"].get("parameters", {})
    return {k: v["runtimeValue"]["constant"] for k, v in parameters.items() if "runtimeValue" in v}


# --- compiling ---------------------------------------------------------------------------


def test_spec_has_components_image_beam_flags_and_caching(small):
    spec = _spec(small)
    assert spec["schemaVersion"] == "2.1.0"
    assert spec["pipelineInfo"]["name"] == "t2i-searcher"
    assert set(INGESTION) <= set(spec["root"]["dag"]["tasks"]) == set(small.tasks)
    for name, task in spec["root"]["dag"]["tasks"].items():
        if not name.startswith("LatestBlessedModel"):
            assert task["cachingOptions"] == {"enableCache": True}, name
    for name, executor in _executors(spec).items():
        if "container" not in executor:  # the resolver nodes
            continue
        container = executor["container"]
        assert container["image"] == IMAGE, name
        assert container["command"] == [
            "python",
            "-m",
            "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
        ]
        # The image has our code: this flag keeps TFX from building a tfx sdist per Beam step.
        assert f"--sdk_container_image={IMAGE}" in container["args"], name
        assert "--direct_num_workers=2" in container["args"], name
    example_gen = _executors(spec)["CocoExampleGen_executor"]["container"]
    assert "components.coco_example_gen.executor.Executor" in example_gen["args"]
    # FileBasedExampleGen resolves spans before the cache check, in a driver hook.
    assert example_gen["lifecycle"]["preCacheCheck"]["command"][-1].endswith(
        "file_based_example_gen.driver"
    )


def test_paths_are_the_clusters_and_the_images(small):
    spec = _spec(small)
    schema_file = _task_inputs(spec, "ImportSchemaGen")["schema_file"]
    assert schema_file == "/opt/t2i-searcher/t2i/schema/schema.pbtxt"
    # The same relative path exists in the project the Dockerfile copies to /opt/t2i-searcher.
    assert os.path.isfile(os.path.join(REPO_ROOT, run_environment.SCHEMA_IN_CODE))
    assert _task_inputs(spec, "CocoExampleGen")["input_base"] == f"{BUCKET}/data"
    assert REPO_ROOT not in open(small.yaml_path).read()  # nothing of this machine's paths
    with open(small.json_path) as f:
        job = json.load(f)
    assert job["runtimeConfig"]["gcsOutputDirectory"] == PIPELINE_ROOT == small.pipeline_root
    assert job["pipelineSpec"] == spec  # the Vertex job wraps the very spec KFP gets


def test_spec_parses_as_kfp_pipeline_spec_and_the_client_reads_it(small):
    from google.protobuf import json_format
    from kfp.client import client as kfp_client
    from kfp.pipeline_spec import pipeline_spec_pb2

    parsed = json_format.ParseDict(_spec(small), pipeline_spec_pb2.PipelineSpec())
    assert parsed.schema_version == "2.1.0"
    # What create_run_from_pipeline_package does with the file.
    assert kfp_client._extract_pipeline_yaml(small.yaml_path).pipeline_spec == parsed


def test_caching_off_in_the_config_is_off_in_the_spec(tmp_path, config, dags):
    kfp_config = copy.deepcopy(config)
    kfp_config.pipeline.enable_cache = False
    compiled = compiler.compile_pipeline(kfp_config, "full", out=str(tmp_path / "p.yaml"))
    assert all("cachingOptions" not in t for t in _spec(compiled)["root"]["dag"]["tasks"].values())


_PATHS = re.compile(r"(?:[a-z][a-z0-9+.-]*://|(?<![\w.:/*{}-])/)[^\s\"'\\,}\]]*")


@pytest.mark.parametrize("kind", ["full", "rebuild"])
def test_compiled_specs_hold_no_path_of_this_machine(kind, full, rebuild, config, tmp_path):
    """Every path-like string in the product's compiled specs (the .yaml KFP runs and the
    .json Vertex runs) is inside the image (kubeflow.code_root) or under a configured
    bucket: nothing of the compiling machine (checkout, working dir, temp dirs, home)."""
    compiled = full if kind == "full" else rebuild
    allowed = (config.kubeflow.code_root + "/", f"{BUCKET}/")
    text = open(compiled.yaml_path).read() + open(compiled.json_path).read()
    found = set(_PATHS.findall(text))
    assert found, "no paths found at all: the scan is broken"
    for path in sorted(found):
        assert path.startswith(allowed), f"{kind} spec holds {path!r}"
    for local in {REPO_ROOT, os.getcwd(), str(tmp_path.parent.parent)}:
        assert local not in text, f"{kind} spec holds {local!r}"
    spec = _spec(compiled)
    assert _task_inputs(spec, "ImportSchemaGen")["schema_file"] == (
        f"{config.kubeflow.code_root}/{run_environment.SCHEMA_IN_CODE}"
    )
    assert compiled.pipeline_root.startswith(f"{BUCKET}/")


def test_environment_for_the_cluster(config):
    env = run_environment.kubeflow(config, image="other/image:2")
    assert env.kubeflow and env.metadata_connection is None  # the cluster's own store
    assert env.pipeline_root == PIPELINE_ROOT
    assert env.data_dir == f"{BUCKET}/data" and env.serving_dir == f"{BUCKET}/serving"
    assert env.schema_file == "/opt/t2i-searcher/t2i/schema/schema.pbtxt"
    assert env.beam_args == ("--direct_num_workers=2", "--sdk_container_image=other/image:2")
    local = run_environment.local(config)  # the same config, this machine
    assert not local.kubeflow and local.pipeline_root == os.path.abspath(
        "runs/pipelines/t2i-searcher"
    )
    assert os.path.isfile(local.schema_file) and local.metadata_connection is not None
    # Portable runners: the image as the workers' environment, the image's wheel staged.
    config.pipeline.beam_args = ["--runner=FlinkRunner"]
    try:
        args = run_environment.kubeflow(config).beam_args
    finally:
        config.pipeline.beam_args = ["--direct_num_workers=2"]
    assert f"--environment_config={IMAGE}" in args
    assert any(a.startswith("--extra_package=/opt/t2i-searcher/dist/t2i_searcher-") for a in args)


def test_output_paths(config):
    assert compiler.output_paths(config, "rebuild", None) == (
        "runs/kubeflow/t2i-searcher-rebuild.yaml",
        "runs/kubeflow/t2i-searcher-rebuild.json",
    )
    assert compiler.output_paths(config, "full", "out/job.json") == ("out/job.yaml", "out/job.json")
    with pytest.raises(KubeflowError, match="name a .yaml"):
        compiler.output_paths(config, "full", "out/job.txt")


def test_full_dag_compiles(full):
    spec = _spec(full)
    tasks = spec["root"]["dag"]["tasks"]
    # KubeflowV2DagRunner splits the latest-blessed-model Resolver into two resolver tasks.
    assert (
        set(tasks)
        == set(
            INGESTION
            + [
                "Trainer",
                "LatestBlessedModel-model-blessing-resolver",
                "LatestBlessedModel-model-resolver",
                "RetrievalEvaluator",
                "ImageEmbedder",
                "TextEncoderExporter",
                "SearcherBuilder",
                "SearcherValidator",
                "SearcherPusher",
            ]
        )
        == set(full.tasks)
    )
    # The index is built only for a blessed model: tfx.dsl.Cond becomes a trigger condition.
    for name in ("ImageEmbedder", "SearcherBuilder", "SearcherValidator", "SearcherPusher"):
        assert "['blessed'] == 1" in tasks[name]["triggerPolicy"]["condition"], name
    # The export is unconditional, so the rebuild DAG's identical exporter hits its cache.
    assert "triggerPolicy" not in tasks["TextEncoderExporter"]
    assert _task_inputs(spec, "SearcherPusher")["serving_dir"] == f"{BUCKET}/serving"
    trainer = _executors(spec)["Trainer_executor"]["container"]
    assert trainer["image"] == IMAGE
    inputs = _task_inputs(spec, "Trainer")
    assert "module_file" not in inputs  # run_fn by name: no user module to package or upload
    assert "components.trainer.module_file.run_fn" in json.dumps(inputs)
    assert all(
        t.get("cachingOptions") == {"enableCache": True}
        for name, t in tasks.items()
        if not name.startswith("LatestBlessedModel")
    )


@pytest.mark.parametrize("kind", ["full", "rebuild"])
def test_every_artifact_type_in_the_spec_imports_as_the_container_entrypoint_imports_it(
    kind, full, rebuild
):
    """TFX's KFP v2 entrypoint turns each input and output artifact's schema title into a
    class path and imports it (custom types: the title is the path). `t2i.Embeddings` &c.
    must therefore import from the package `t2i` (its lazy attributes)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as entry
    from tfx.utils import import_utils

    from components.common import artifacts

    spec = _spec(full if kind == "full" else rebuild)
    imported = {}
    for component in spec["components"].values():
        for side in ("inputDefinitions", "outputDefinitions"):
            for definition in component.get(side, {}).get("artifacts", {}).values():
                schema = json_format.ParseDict(
                    definition["artifactType"], pipeline_spec_pb2.ArtifactTypeSchema()
                )
                # The entrypoint's own title -> class path rule (a private TFX function).
                path = entry._retrieve_class_path(schema)
                imported[path] = import_utils.import_class_by_path(path)
    assert imported["t2i.Embeddings"] is artifacts.Embeddings
    assert imported["t2i.Searcher"] is artifacts.Searcher
    assert imported["t2i.TextEncoder"] is artifacts.TextEncoder


def test_latest_blessed_model_query_can_find_the_evaluators_model(full):
    """Vertex's model resolver looks the model up by name = the blessing's current_model_id.
    TFX's KFP v2 entrypoint writes that id as the model's resource name only for executors
    it recognises as an Evaluator; the compiled RetrievalEvaluator runs one such
    (components/retrieval_evaluator/kubeflow_executor.py). The emulated run
    (test_kubeflow_emulated) shows the rebuild's resolver finding the full run's model."""
    from tfx.components.evaluator import executor as tfx_evaluator
    from tfx.utils import import_utils

    executors = _executors(_spec(full))
    query = executors["LatestBlessedModel-model-resolver_executor"]["resolver"]
    assert (
        "name=\"{{$.inputs.artifacts['input'].metadata['current_model_id']}}\""
        in query["outputArtifactQueries"]["model"]["filter"]
    )
    args = executors["RetrievalEvaluator_executor"]["container"]["args"]
    class_path = args[args.index("--executor_class_path") + 1]
    assert class_path == "components.retrieval_evaluator.kubeflow_executor.Executor"
    executor_class = import_utils.import_class_by_path(class_path)
    assert issubclass(executor_class, tfx_evaluator.Executor)
    # Its work is RetrievalEvaluator's, not TFX's Evaluator's.
    from components.retrieval_evaluator import executor

    assert executor_class.Do is executor.Executor.Do


def test_rebuild_dag_compiles(rebuild):
    tasks = _spec(rebuild)["root"]["dag"]["tasks"]
    assert "Trainer" not in tasks  # no retraining
    assert {
        "CocoExampleGen",
        "ImageEmbedder",
        "TextEncoderExporter",
        "SearcherBuilder",
        "SearcherValidator",
        "SearcherPusher",
    } <= set(tasks)
    # The latest blessed model, the embeddings to extend and the searcher whose index grows.
    assert {"LatestEmbeddings", "LatestSearcher"} <= set(tasks)
    assert any(name.startswith("LatestBlessedModel") for name in tasks)
    for executor in _executors(_spec(rebuild)).values():
        if "container" in executor:
            assert executor["container"]["image"] == IMAGE
    # Resolver queries name our custom types (TFX's compiler would write "tfx.Artifact").
    queries = {
        name: e["resolver"]["outputArtifactQueries"]
        for name, e in _executors(_spec(rebuild)).items()
        if "resolver" in e
    }
    assert queries["LatestEmbeddings_executor"]["embeddings"]["filter"].startswith(
        'schema_title="t2i.Embeddings" AND '
    )
    assert queries["LatestSearcher_executor"]["searcher"]["filter"].startswith(
        'schema_title="t2i.Searcher" AND '
    )
    assert not any("tfx.Artifact" in json.dumps(q) for q in queries.values())


def test_compile_command_writes_both_files(tmp_path, full):
    out = tmp_path / "spec" / "t2i.json"
    result = CliRunner().invoke(
        main,
        [
            "compile",
            "--image",
            "r.example/t2i:9",
            "--out",
            str(out),
            "--set",
            f"kubeflow.pipeline_root={BUCKET}/cli",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"KFP pipeline spec (kfp.Client):   {tmp_path / 'spec' / 't2i.yaml'}" in result.output
    spec = yaml.safe_load((tmp_path / "spec" / "t2i.yaml").read_text())
    assert {e["container"]["image"] for e in _executors(spec).values() if "container" in e} == {
        "r.example/t2i:9"
    }
    assert (
        json.loads(out.read_text())["runtimeConfig"]["gcsOutputDirectory"]
        == f"{BUCKET}/cli/pipelines/t2i-searcher"
    )


# --- the KFP API, through the kfp SDK ------------------------------------------------------


def _posted(server, path_end):
    return [r for r in server.requests if r.method == "POST" and r.path.endswith(path_end)]


def test_submit_creates_experiment_and_run(small, capfd):
    with StandinKfp(token=TOKEN) as server:
        connection = client.Connection(host=server.url, token=TOKEN)
        run = client.submit(connection, small, "t2i-tests", run_name="nightly")
        again = client.submit(connection, small, "t2i-tests")  # the experiment is reused
    assert server.errors == []
    assert all(r.authorized for r in server.requests)
    assert len(_posted(server, "/experiments")) == 1
    body = _posted(server, "/runs")[0].body
    assert body["display_name"] == "nightly"
    assert body["experiment_id"] == run.experiment_id == again.experiment_id
    assert body["runtime_config"]["pipeline_root"] == PIPELINE_ROOT
    assert body["pipeline_spec"] == _spec(small)
    assert run.link == f"{server.url}/#/runs/details/{run.run_id}"
    assert run.run_id in server.runs and again.run_id != run.run_id
    captured = capfd.readouterr()
    assert "Run details" not in captured.out  # the SDK's own prints stay off the terminal
    assert TOKEN not in captured.out + captured.err


def test_recurring_run_converts_cron_and_sets_concurrency_and_catchup(small):
    with StandinKfp() as server:
        connection = client.Connection(host=server.url)
        created = recurring.create_recurring_run(
            connection, small, parse_cron("0 3 * * *"), "t2i-tests"
        )
    assert server.errors == []
    body = _posted(server, "/recurringruns")[0].body
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}  # seconds first
    assert body["max_concurrency"] == 1 and body["no_catchup"] is True and body["mode"] == "ENABLE"
    assert body["runtime_config"]["pipeline_root"] == PIPELINE_ROOT
    assert body["pipeline_spec"] == _spec(small)
    assert body["display_name"] == "t2i-searcher-full"
    assert "at 03:00 every day" in body["description"]
    assert (created.cron, created.words, created.enabled) == (
        "0 0 3 * * *",
        "at 03:00 every day",
        True,
    )


def test_standin_rejects_what_a_cluster_would():
    """The stand-in is only worth its validation: a 5-field cron, unknown keys and bad
    enums are refused as KFP refuses them."""
    import urllib.error
    import urllib.request

    with StandinKfp() as server:

        def post(path, body):
            request = urllib.request.Request(
                server.url + "/apis/v2beta1/" + path,
                method="POST",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, experiment = post("experiments", {"display_name": "e"})
        assert status == 200
        base = {
            "display_name": "r",
            "experiment_id": experiment["experiment_id"],
            "pipeline_spec": {
                "pipelineInfo": {"name": "p"},
                "schemaVersion": "2.1.0",
                "root": {
                    "dag": {
                        "tasks": {"t": {"componentRef": {"name": "c"}, "taskInfo": {"name": "t"}}}
                    }
                },
                "components": {"c": {"executorLabel": "x"}},
                "deploymentSpec": {"executors": {"x": {"container": {"image": "i"}}}},
            },
            "max_concurrency": 1,
        }
        ok = dict(base, trigger={"cron_schedule": {"cron": "0 0 3 * * *"}})
        assert post("recurringruns", ok)[0] == 200
        cases = {
            "KFP needs 6 fields": dict(base, trigger={"cron_schedule": {"cron": "0 3 * * *"}}),
            "unknown field 'maxConcurrency2'": dict(ok, maxConcurrency2=1),
            "is not one of": dict(ok, mode="ON"),
            "does not parse as a PipelineSpec": dict(ok, pipeline_spec={"bogus": 1}),
            "names unknown component": dict(
                ok,
                pipeline_spec=dict(
                    base["pipeline_spec"], components={"other": {"executorLabel": "x"}}
                ),
            ),
            "max_concurrency must be 1-10": dict(ok, max_concurrency=0),
        }
        for expected, body in cases.items():
            status, payload = post("recurringruns", body)
            assert status == 400 and expected in payload["message"], (expected, payload)
    assert len(server.errors) == len(cases)


def test_wait_returns_on_canceled_instead_of_waiting_for_the_timeout(small):
    with StandinKfp(final_state="CANCELED", polls_to_finish=1) as server:
        connection = client.Connection(host=server.url)
        run = client.submit(connection, small, "t2i-tests")
        assert client.wait_for_run(connection, run.run_id, timeout=600, poll=0.01) == "CANCELED"


def _cli(args, env=None):
    return CliRunner().invoke(main, args, env=env)


def test_schedule_list_disable_delete_commands(small, tmp_path, capfd):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with StandinKfp(token=TOKEN) as server:
        connection = client.Connection(host=server.url, token=TOKEN)
        created = recurring.create_recurring_run(
            connection, small, parse_cron("*/30 * * * *"), "t2i-tests", name="half-hourly"
        )
        listed = _cli(["schedule", "--host", server.url, "--list", "--token-file", str(token_file)])
        disabled = _cli(
            ["schedule", "--host", server.url, "--disable", created.recurring_run_id],
            env={"T2I_KFP_TOKEN": TOKEN},
        )
        after = _cli(["schedule", "--host", server.url, "--list"], env={"T2I_KFP_TOKEN": TOKEN})
        deleted = _cli(
            ["schedule", "--host", server.url, "--delete", created.recurring_run_id],
            env={"T2I_KFP_TOKEN": TOKEN},
        )
        empty = _cli(["schedule", "--host", server.url, "--list"], env={"T2I_KFP_TOKEN": TOKEN})
    assert server.errors == [] and all(r.authorized for r in server.requests)
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip() == (
        f'{created.recurring_run_id}  enabled   half-hourly  "0 */30 * * * *"  every 30 minutes'
    )
    assert disabled.output.strip() == f"disabled recurring run {created.recurring_run_id}"
    assert "  disabled  half-hourly" in after.output
    assert deleted.exit_code == 0 and empty.output.strip() == "no recurring runs"
    captured = capfd.readouterr()
    for text in (
        listed.output,
        disabled.output,
        after.output,
        deleted.output,
        empty.output,
        captured.out,
        captured.err,
    ):
        assert TOKEN not in text


def test_wrong_token_is_one_line_by_status_without_the_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("wrong-" + TOKEN)
    with StandinKfp(token=TOKEN) as server:
        result = _cli(["schedule", "--host", server.url, "--list", "--token-file", str(token_file)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: Kubeflow Pipelines at {server.url} answered 401 Unauthorized (check the token, "
        "cookies or credentials): missing or wrong bearer token"
    ]
    assert TOKEN not in result.output


def test_unreachable_host_is_one_readable_line():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _cli(["schedule", "--host", f"http://127.0.0.1:{port}", "--list"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: cannot reach Kubeflow Pipelines at http://127.0.0.1:{port}: [Errno 111] Connection refused"
    ]


def test_schedule_command_rejects_bad_cron_before_contacting_anyone():
    result = _cli(["schedule", "--host", "http://127.0.0.1:9", "--cron", "0 3 * *"])
    assert result.exit_code == 2
    assert 'cron "0 3 * *": 4 fields; expected 5' in result.output


def test_submit_and_schedule_commands_end_to_end(full, tmp_path, capfd):
    root = tmp_path / "runs"
    env = {"T2I_KFP_TOKEN": TOKEN}
    storage = [
        "--set",
        f"kubeflow.pipeline_root={BUCKET}/root",
        "--set",
        f"kubeflow.data_dir={BUCKET}/data",
        "--set",
        f"kubeflow.serving_dir={BUCKET}/serving",
        "--root",
        str(root),
    ]
    with StandinKfp(token=TOKEN, polls_to_finish=0) as server:  # done at the first poll
        refused = _cli(["submit", "--host", server.url, "--root", str(root)], env=env)
        submitted = _cli(
            ["submit", "--host", server.url, "--experiment", "cli", "--wait", "60", *storage],
            env=env,
        )
        scheduled = _cli(
            [
                "schedule",
                "--host",
                server.url,
                "--cron",
                "0 3 * * 1-5",
                "--pipeline",
                "full",
                *storage,
            ],
            env=env,
        )
    assert refused.exit_code == 2 and "still point at gs://YOUR_BUCKET" in refused.output
    assert server.errors == []
    assert _posted(server, "/runs")[0].body["runtime_config"]["pipeline_root"] == PIPELINE_ROOT
    assert submitted.exit_code == 0, submitted.output
    run_id = next(iter(server.runs))
    assert f"submitted run {run_id} (experiment cli)" in submitted.output
    assert f"{server.url}/#/runs/details/{run_id}" in submitted.output
    assert f"run {run_id}: SUCCEEDED" in submitted.output
    assert scheduled.exit_code == 0, scheduled.output
    assert "schedule: at 03:00 on Monday through Friday" in scheduled.output
    assert 'KFP cron "0 0 3 * * 1-5" (from the 5-field "0 3 * * 1-5"' in scheduled.output
    assert re.search(
        r"created recurring run \S+ \"t2i-searcher-full\" in experiment t2i-searcher: "
        r"at most 1 run at a time, no catch-up",
        scheduled.output,
    )
    captured = capfd.readouterr()
    files = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]
    assert files  # the compiled specs
    for text in [submitted.output, scheduled.output, captured.out, captured.err] + [
        open(f, errors="replace").read() for f in files
    ]:
        assert TOKEN not in text


# --- Vertex AI ---------------------------------------------------------------------------


def test_vertex_pipeline_job_from_the_compiled_json(small):
    from google.auth.credentials import AnonymousCredentials

    job = vertex.vertex_job(
        small,
        "t2i-project",
        "europe-west4",
        enable_caching=False,
        credentials=AnonymousCredentials(),
    )
    resource = job._gca_resource
    assert job.project == "t2i-project" and job.location == "europe-west4"
    assert resource.display_name == "t2i-searcher-full"
    assert resource.runtime_config.gcs_output_directory == PIPELINE_ROOT
    assert set(INGESTION) <= set(resource.pipeline_spec["root"]["dag"]["tasks"])
    assert not resource.name  # built, not sent
    tasks = resource.pipeline_spec["root"]["dag"]["tasks"]
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())


def test_vertex_dry_run_command(full, tmp_path):
    result = _cli(
        [
            "submit",
            "--vertex",
            "--project",
            "p1",
            "--region",
            "us-central1",
            "--dry-run",
            "--root",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Vertex AI PipelineJob t2i-searcher-\d+ \(not sent\): project p1, "
        r"region us-central1, \d+ tasks, pipeline root gs://YOUR_BUCKET/t2i/pipelines/"
        r"t2i-searcher",
        result.output,
    )
