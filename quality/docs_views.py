"""Data Docs page views that share compiled Jinja templates across builds.

GE builds a new SiteBuilder, hence new views and new Jinja environments, for every validation the
UpdateDataDocsAction renders, and so recompiles some fifty templates each time: about half of a
check run's time. These views are GE's own, plugged in through the site's documented `view`
settings, with Jinja's standard bytecode cache shared in-process (keyed by template name and source
checksum, so a changed template is never served stale).
"""

from __future__ import annotations

from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class _MemoryBytecodeCache(BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_CACHE = _MemoryBytecodeCache()


class CachedPageView(DefaultJinjaPageView):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = _CACHE


class CachedIndexPageView(DefaultJinjaIndexPageView):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = _CACHE


def view_config(index: bool = False) -> dict[str, str]:
    return {"module_name": __name__, "class_name": "CachedIndexPageView" if index else "CachedPageView"}
