"""Automatic generation: the worker asks for the report of a window right after releasing it.

:func:`generate_if_week_released` is safe to call from the worker's release loop: it never raises, logs
one clear line for what it did or why it did nothing, and only ever reads the store. It writes only
when every family of the window has been released (a partial window waits for the next call) and
skips windows whose report is already there, so calling it after each family's release is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from analytics.errors import EmptyStoreError
from analytics.reporting.archive import report_filename
from analytics.reporting.build import parse_formats, render
from analytics.reporting.model import PartialWeekError, gather
from analytics.windows import Window

log = logging.getLogger(__name__)


def generate_if_week_released(
    store_path: Path | str, window: Window, out_dir: Path | str, formats: Iterable[str] | None = None
) -> dict[str, Path]:
    """Write the report of ``window`` once all its families are released; never raises.

    Args:
        store_path: The DuckDB store the worker releases into (opened read-only here).
        window: The window just released.
        out_dir: The reports folder (the dashboard's ``reports_dir``).
        formats: Any of ``html``, ``pdf``, ``md``; html and md when None.

    Returns:
        The paths written, by format; empty when nothing was written (already there, window not fully
        released yet, or an error, which is logged).
    """
    label = window.label()
    try:
        chosen = parse_formats(formats)
        out = Path(out_dir)
        if all((out / report_filename(label, fmt)).is_file() for fmt in chosen):
            log.debug("report of window %s already in %s", label, out)
            return {}
        report = gather(store_path, label)
        written = render(report, out, chosen)
    except PartialWeekError as exc:
        log.info("report of window %s not written yet: %s", label, exc)
        return {}
    except EmptyStoreError as exc:
        log.warning("report of window %s not written: %s", label, exc)
        return {}
    except Exception:  # the worker must keep releasing whatever went wrong here
        log.exception("report of window %s failed; the release itself is unaffected", label)
        return {}
    log.info("report of window %s written: %s", label, ", ".join(str(p) for p in written.values()))
    return written
