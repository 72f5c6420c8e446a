"""How every `t2i` command ends when it cannot do its job: one line starting "error: " on
stderr (no traceback), and an exit code that says what kind of problem it was.

Click's own usage errors ("Error: ..."), ClickExceptions raised by commands, the preflight
checks, a busy pipeline root and Ctrl-C all go through `T2iGroup.main`, so the prefix and
the codes are the same across commands.
"""

from __future__ import annotations

import faulthandler
import sys

import click

EXIT_OK = 0
EXIT_FAILED = 1  # the command or the pipeline run failed
EXIT_USAGE = 2  # a bad option, argument or configuration value (click's own code)
EXIT_DATA = 3  # --data names no usable collection, or the annotations are unusable
EXIT_BUSY = 4  # another command holds the pipeline root (see --wait)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 the command or run failed; 2 usage or configuration error; "
    "3 the data is unusable; 4 the pipeline root is in use by another command; "
    "130 interrupted (Ctrl-C); 143 terminated (SIGTERM)."
)


class CommandError(click.ClickException):
    """A command's own failure with its exit code, shown as "error: <message>"."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance


def fail(message: str, code: int = EXIT_FAILED) -> None:
    """Ends the command with one readable line on stderr."""
    raise CommandError(message, code)


class T2iGroup(click.Group):
    """The `t2i` group: runs a command and turns every way it can fail into one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        # A crash in native code (ML Metadata, the Task Library) still prints the Python
        # stack, i.e. what was being done; `t2i search` adds a sentence (native_guard.py).
        try:
            faulthandler.enable()
        except (OSError, ValueError):  # stderr without a descriptor (a test runner's)
            pass
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.UsageError as e:
            _error(e.format_message())
            if e.ctx is not None:
                click.echo(e.ctx.get_usage(), err=True)
                click.echo(f"Try '{e.ctx.command_path} --help' for help.", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as e:
            _error(e.format_message())
            sys.exit(e.exit_code)
        except (click.Abort, KeyboardInterrupt):
            _error("interrupted (Ctrl-C)")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(EXIT_OK)


def _error(message: str) -> None:
    sys.stdout.flush()
    click.echo(f"error: {message}", err=True)
