"""The one Beam-args builder, per runner family (t2i/beam_options.py)."""

import pytest

from t2i import beam_options
from t2i.beam_options import BeamArgsError, build

IMAGE = "registry.example.com/t2i-searcher:1"
WHEEL = "/opt/t2i-searcher/dist/t2i_searcher-0.1.0-py3-none-any.whl"


def test_direct_runner_gets_only_the_flag_that_stops_tfx_building_an_sdist():
    assert build([], image=IMAGE) == [f"--sdk_container_image={IMAGE}"]
    assert (
        build(
            ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
            image=IMAGE,
            wheel=WHEEL,
        )[-1]
        == f"--sdk_container_image={IMAGE}"
    )
    # A dependency flag the user chose is kept, not doubled.
    assert build(["--extra_package=x.whl"], image=IMAGE) == ["--extra_package=x.whl"]


@pytest.mark.parametrize("runner", ["PortableRunner", "FlinkRunner", "SparkRunner"])
def test_portable_runners_get_our_image_as_environment_and_the_wheel_staged(runner):
    args = build([f"--runner={runner}", "--flink_master=host:8081"], image=IMAGE, wheel=WHEEL)
    assert "--environment_type=DOCKER" in args and f"--environment_config={IMAGE}" in args
    assert f"--extra_package={WHEEL}" in args
    assert not any(a.startswith("--sdk_container_image") for a in args)
    assert f"--job_server_timeout={beam_options.PORTABLE_JOB_TIMEOUT_SECONDS}" in args


def test_a_users_environment_is_kept_and_sdk_container_image_alone_is_refused():
    args = build(
        [
            "--runner=PortableRunner",
            "--environment_type=EXTERNAL",
            "--environment_config=localhost:5",
            "--job_server_timeout=30",
        ],
        image=IMAGE,
    )
    assert args[:4] == [
        "--runner=PortableRunner",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:5",
        "--job_server_timeout=30",
    ]
    assert not any(a.startswith("--environment_type=DOCKER") for a in args)
    assert args[-1] == f"--sdk_container_image={IMAGE}"  # TFX's trap: no sdist per execution
    with pytest.raises(BeamArgsError, match="environment_type"):
        build(["--runner=FlinkRunner", "--sdk_container_image=x"], image=IMAGE)


def test_dataflow_workers_run_our_image():
    args = build(["--runner=DataflowRunner", "--project=p", "--region=r"], image=IMAGE, wheel=WHEEL)
    assert args == [
        "--runner=DataflowRunner",
        "--project=p",
        "--region=r",
        f"--sdk_container_image={IMAGE}",
    ]


def test_unknown_runner_is_named():
    with pytest.raises(BeamArgsError, match="NoSuchRunner"):
        build(["--runner", "NoSuchRunner"], image=IMAGE)
