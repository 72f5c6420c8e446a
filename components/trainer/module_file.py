"""The TFX Trainer's user code: `Trainer(run_fn="components.trainer.module_file.run_fn",
...)` or `Trainer(module_file=<this file>, ...)`, with custom_config as below.

custom_config: the fields of components.trainer.options.TrainerOptions (dataclasses.asdict(
config.trainer); missing fields take the defaults) plus optional "code_version"
(components.trainer.code_version()). See components/trainer/options.py.
TrainArgs/EvalArgs choose the splits (default train / eval); their num_steps are not
used: trainer.epochs sets the length of training.
"""

from components.common import runtime_env  # noqa: F401  (sets the process environment before TensorFlow)
from components.trainer import options, work


def run_fn(fn_args) -> None:
    trainer_options, extras = options.from_custom_config(fn_args.custom_config)
    work.train(
        fn_args.train_files,
        fn_args.eval_files,
        fn_args.serving_model_dir,
        fn_args.model_run_dir,
        trainer_options,
        extras,
    )
