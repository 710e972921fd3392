"""Migrations upgrade an empty database and downgrade cleanly, and hold their own literals."""

import ast
import sys

from netzatlas import db, migrate
from netzatlas.registry.kinds import KINDS

from .conftest import make_database


def _tables(url: str) -> set[str]:
    with db.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
        ).fetchall()
    return {r["tablename"] for r in rows}


def test_upgrade_from_empty_and_downgrade_cleanly():
    name = "netzatlas_test_migrations"
    url = make_database(name)
    try:
        assert _tables(url) == set()
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
        tables = _tables(url)
        assert {
            "assets",
            "asset_history",
            "municipalities",
            "districts",
            "buildings",
            "population_cells",
            "operators",
            "api_keys",
            "submissions",
        } <= tables
        assert {k.partition for k in KINDS} <= tables
        migrate.downgrade(url, "base")
        assert _tables(url) == {"alembic_version"}
        assert migrate.current_revision(url) is None
        with db.connect(url) as conn:
            left = conn.execute(
                "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND p.proname LIKE 'assets_%'"
            ).fetchone()
            assert left["n"] == 0
        migrate.upgrade(url)  # and up again from base
        assert migrate.current_revision(url) == migrate.head_revision()
    finally:
        db.drop_database(name)


# What a migration may import: Alembic, SQLAlchemy and the standard library. Anything else (netzatlas, the
# tests, bench, scripts, a relative import) would let a later change of live code change what an old
# migration creates.
ALLOWED_IMPORTS = {"alembic", "sqlalchemy", "__future__", *sys.stdlib_module_names}
DYNAMIC_IMPORTS = {"__import__", "import_module", "run_path", "run_module", "spec_from_file_location"}


def _imports(path) -> list[tuple[int, str]]:
    """(line, module) for every import in a migration file; relative imports as '.<module>'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
            if name in DYNAMIC_IMPORTS:
                found.append((node.lineno, f"<dynamic {name}()>"))
    return found


def test_migrations_import_no_project_code():
    versions = sorted((migrate.MIGRATIONS_DIR / "versions").glob("*.py"))
    assert len(versions) >= 10
    offending = [
        f"{path.name}:{line}: {module}"
        for path in versions
        for line, module in _imports(path)
        if module.startswith(".") or module.startswith("<") or module.split(".")[0] not in ALLOWED_IMPORTS
    ]
    assert offending == [], "migrations must hold their own literals, not import live code:\n" + "\n".join(offending)


def test_import_check_catches_project_imports(tmp_path):
    bad = tmp_path / "0099_bad.py"
    bad.write_text(
        "from alembic import op\nimport os.path\nfrom netzatlas.registry.kinds import KINDS\n"
        "import bench.common\nfrom . import helpers\nimportlib.import_module('netzatlas')\n"
    )
    modules = [m for _, m in _imports(bad)]
    assert modules == [
        "alembic",
        "os.path",
        "netzatlas.registry.kinds",
        "bench.common",
        ".",
        "<dynamic import_module()>",
    ]
    assert [m for m in modules if m.split(".")[0] in ALLOWED_IMPORTS] == ["alembic", "os.path"]
