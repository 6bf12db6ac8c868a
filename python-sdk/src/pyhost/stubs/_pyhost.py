"""Stand-in for the host's internal ``_pyhost`` module."""

from __future__ import annotations

__all__ = ["CheckCancelled"]


class CheckCancelled(BaseException):
    """Raised by the host inside a running check to stop it.

    It derives from ``BaseException`` so that ``except Exception`` blocks in check code
    do not swallow it.
    """
