"""Ship dbt's documentation site with the report, under `<report>/dbt-docs/`."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

DOCS_FOLDER = "dbt-docs"
# What `dbt docs generate` writes into target/ that its index.html loads.
_SITE_FILES = ("index.html", "manifest.json", "catalog.json")


def copy_dbt_docs(target_dir: Path, out_dir: Path) -> tuple[str | None, str]:
    """Copy the docs from dbt's target/ into out_dir/dbt-docs; returns (relative href or None, note).

    `dbt docs generate --static` writes static_index.html with the manifest and catalog inlined: it
    opens from the file system, so it becomes dbt-docs/index.html on its own. The plain index.html
    fetches manifest.json and catalog.json, which browsers refuse on file:// URLs, so that form only
    works when the report folder is served over HTTP.
    """
    target_dir = Path(target_dir)
    static = target_dir / "static_index.html"
    if static.is_file():
        files = {"index.html": static}
        note = "dbt docs (self-contained static page)."
    elif (target_dir / "index.html").is_file():
        files = {name: target_dir / name for name in _SITE_FILES if (target_dir / name).is_file()}
        note = (
            "dbt docs: this page loads manifest.json and catalog.json, which browsers block on file:// — "
            "serve the report folder over HTTP (python -m http.server) or run `dbt docs generate --static`."
        )
    else:
        return None, f"No dbt docs in {target_dir} (run `dbt docs generate --static`)."
    dest = out_dir / DOCS_FOLDER
    # Stage, then swap: a reader never finds a half-copied docs folder.
    stage = out_dir / f".{DOCS_FOLDER}.{uuid.uuid4().hex[:8]}.tmp"
    stage.mkdir(parents=True)
    try:
        for name, source in files.items():
            shutil.copyfile(source, stage / name)
        old = out_dir / f".{DOCS_FOLDER}.{uuid.uuid4().hex[:8]}.old"
        if dest.exists():
            dest.rename(old)
        stage.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return f"{DOCS_FOLDER}/index.html", note
