"""Suite-wide: no test reads or writes the user's real report cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Set in the environment so that CLI subprocesses inherit it too.
    os.environ["BRANDSCAN_CACHE_DIR"] = str(Path(tmp_path_factory.mktemp("brandscan-cache")))
