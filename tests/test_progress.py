"""The progress printer follows TFX's own log records: their format strings must still be
what TFX logs (this fails loudly on a TFX upgrade that rewords them), and the printer
turns a sequence of such records into one line per component."""

import importlib.util
import io
import logging

from t2i.progress import TFX_RECORDS, ProgressPrinter


def _source(module: str) -> str:
    # Read the installed file without importing TFX (seconds of start-up).
    package, _, name = module.rpartition(".")
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, module
    path = f"{list(spec.submodule_search_locations)[0]}/{name}.py"
    with open(path) as f:
        return f.read()


def test_tfx_still_logs_the_records_the_printer_follows():
    for event, (module, format_string) in TFX_RECORDS.items():
        source = _source(module)
        assert f"'{format_string}'" in source or f'"{format_string}"' in source, (
            f"{module} no longer logs {format_string!r} ({event}): update t2i/progress.py"
        )


def _record(format_string: str, *args) -> logging.LogRecord:
    return logging.LogRecord("absl", logging.INFO, __file__, 1, format_string, args, None)


def test_records_become_one_line_per_component():
    out = io.StringIO()
    printer = ProgressPrinter(out, total=3)
    running, finished = TFX_RECORDS["running"][1], TFX_RECORDS["finished"][1]
    for record in (
        _record(running, "ExampleGen"),
        _record(finished, "ExampleGen"),
        _record(running, "Trainer"),
        _record(TFX_RECORDS["cached"][1], 7),
        _record(finished, "Trainer"),
        _record(running, "Pusher"),
        _record(TFX_RECORDS["skipped"][1], "Pusher"),
        _record(finished, "Pusher"),
        _record("Component %s is running (reworded)", "Other"),
    ):
        printer.emit(record)
    assert [(c.node_id, c.status) for c in printer.components] == [
        ("ExampleGen", "done"),
        ("Trainer", "cached"),
        ("Pusher", "skipped"),
    ]
    lines = out.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["ExampleGen", "Trainer", "Pusher"]
    assert lines[0].startswith("[ 1/3] ExampleGen")
