"""The `kgenhance` command line.

Exit codes: 0 success; 1 unexpected internal error; 2 bad input or usage (missing or
malformed file, unknown column, bad option); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Optional

import click

from ..errors import DataError, KGEnhanceError
from ._common import app
from . import graph_commands, link_commands, train_commands, predict_commands  # noqa: F401, I001 - registered in help order

__all__ = ["app", "main"]


def _terminate_as_interrupt() -> None:
    """On SIGTERM (kill, a scheduler's timeout) unwind like Ctrl-C, so temporary files are removed."""
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry point: runs the app and turns errors into one line on stderr."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TRANSFORMERS_CACHE.*")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    _terminate_as_interrupt()
    try:
        # typer turns Ctrl-C (and our SIGTERM) into Exit(130) and, in this mode, returns the code
        code = app(args=argv, prog_name="kgenhance", standalone_mode=False)
        if code == 130:
            print("kgenhance: interrupted", file=sys.stderr)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print("kgenhance: interrupted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        print("kgenhance: interrupted", file=sys.stderr)
        return 130
    except (KGEnhanceError, DataError) as exc:
        print(f"kgenhance: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"kgenhance: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if os.environ.get("KGENHANCE_DEBUG"):
            raise
        print(f"kgenhance: internal error: {type(exc).__name__}: {exc} (set KGENHANCE_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1
