"""How ``genops`` and ``genops-processor`` fail: one line on stderr naming the cause, a
non-zero exit, never a traceback.

Click prints a usage error as four lines (usage, a hint, a blank, the error); here it is
``genops alerts list: Invalid value for '--limit': -1 is not in the range 1<=x<=10000.``
and exit status 2. A ledger that cannot be used (disk full, read-only, locked, missing;
:class:`~genops_processor.storage.StorageError`) and an operating-system error reaching
the top are one line with exit status 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from genops_processor.cli.literal import one_line
from genops_processor.storage import StorageError, storage_cause


class _OneLine:
    def main(self, args: Any = None, prog_name: Any = None, *rest: Any, **extra: Any) -> Any:
        if extra.get("standalone_mode", True) is False or rest:
            return super().main(args, prog_name, *rest, **extra)  # type: ignore[misc]
        extra["standalone_mode"] = False
        name = prog_name or os.path.basename(sys.argv[0]) or self.name  # type: ignore[attr-defined]
        try:
            code = super().main(args, prog_name, **extra)  # type: ignore[misc]
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx is not None else name
            click.echo(f"{where}: {one_line(error.format_message())}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            click.echo(f"{name}: {one_line(error.format_message())}", err=True)
            sys.exit(error.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo(f"{name}: interrupted", err=True)
            sys.exit(130)
        except StorageError as error:
            click.echo(f"{name}: {one_line(error)}", err=True)
            sys.exit(1)
        except OSError as error:  # e.g. a file beside the ledger on a read-only disk
            cause = storage_cause(error, error.filename or "") if error.filename else None
            click.echo(f"{name}: {one_line(cause or error)}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class OneLineGroup(_OneLine, click.Group):
    """A command group whose errors are one line."""


class OneLineCommand(_OneLine, click.Command):
    """A command whose errors are one line."""
