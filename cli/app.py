"""The `brandscan` Typer app. Each command lives in its own module and registers itself here.

Startup must stay fast (`brandscan --help` under 0.5 s): command modules import torch and the
engine's heavy parts inside their functions, never at module level.
"""
from __future__ import annotations

import importlib
import sys

import typer

from brandscan.engine.errors import BrandscanError

# Exit code for a bug (EX_SOFTWARE): distinct from 1, which means a --fail-on condition was met.
EXIT_INTERNAL = 70

# One module per command or command group; each exposes `register(app: typer.Typer) -> None`.
COMMAND_MODULES = ["analyze", "models", "render", "train", "eval", "corpus"]

app = typer.Typer(
    name="brandscan",
    help="Brand mentions, implicit links and aspect sentiment in long documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich's help formatter imports markdown parsers, which alone would take
    # `brandscan --help` past its 0.5 s budget.
    rich_markup_mode=None,
)


def _version() -> str:
    # Imported here: importlib.metadata costs a noticeable share of `brandscan --help`.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("brandscan")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"brandscan {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version_: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """brandscan: find brands, link what refers to them, score what is said about them."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"brandscan.cli.{_name}").register(app)


def main() -> None:
    """Console entry point: user errors become one line on stderr and their exit code."""
    leave(run_app())


def run_app() -> int:
    """The command's exit code: 0, the command's own, or the one of its error (printed in one line)."""
    try:
        app()
    except SystemExit as done:  # typer ends every command with it, its code the command's
        if isinstance(done.code, str):  # a message instead of a code: Python would print it and exit 1
            print(done.code, file=sys.stderr)
            return 1
        return done.code or 0
    except BrandscanError as error:
        print(f"brandscan: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("brandscan: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug, not a user error: keep the traceback, and an exit code of its own
        import traceback

        traceback.print_exc()
        print("brandscan: internal error (a bug): please report it with the traceback above", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


def nothing_left_running() -> bool:
    """No thread but this one and no child process: the command has joined everything it started."""
    import threading

    if threading.active_count() > 1:
        return False
    processes = sys.modules.get("multiprocessing")  # never imported: no pool ever ran
    return processes is None or not processes.active_children()


def leave(code: int) -> None:
    """Exit with `code`, without the interpreter's teardown when nothing is left running.

    Every report is written and closed by now (writers flush each record and close in `finally`), so
    freeing torch's and the model's objects one by one only delays the exit: about 0.17 s of every run
    here, a third of the start-up beyond `import torch` (bench/startup.py). With a thread or child process
    still alive (a Dask client, an interrupted pool), the normal exit joins them as before."""
    if not nothing_left_running():
        sys.exit(code)
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away (`| head`), or the stream is closed
            pass
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)
