"""Alert tests move the clock (tiers time out); the mobile suite's mid-shift world keeps the roster's shift stable."""

from tests.mobile.conftest import mid_shift, world

__all__ = ["mid_shift", "world"]
