"""Packaging basics: every imported package declared, the licence, the PEP 561 marker."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "scorelens"


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # A requirement's name: up to the first extra, version or marker character (PEP 508).
    return {re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower().replace("_", "-")
            for req in project["dependencies"]}


def _imported_top_level() -> dict[str, str]:
    """Top-level modules imported anywhere under src/ (absolute imports), with one file each."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_third_party_package_is_declared():
    # Module -> distribution from the installed packages' own metadata (sklearn -> scikit-learn).
    distributions = importlib.metadata.packages_distributions()
    declared = _declared()
    missing = []
    for module, where in _imported_top_level().items():
        if module in sys.stdlib_module_names or module == "scorelens":
            continue
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not dists & declared:
            missing.append(f"{module} ({where}; distribution {sorted(dists) or 'not installed'})")
    assert not missing, "imported but not declared in pyproject.toml: " + ", ".join(missing)


def test_licence_and_typed_marker():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "scorelens developers" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == {"text": "MIT"}
    assert (SRC / "py.typed").is_file()
    assert "src/scorelens/py.typed" in project["tool"]["hatch"]["build"]["targets"]["wheel"]["artifacts"]


def test_the_package_docstring_examples_run_as_written():
    import doctest

    import scorelens

    result = doctest.testmod(scorelens, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0


def test_the_public_api_is_visible_and_real():
    import inspect

    import scorelens

    public = {n for n in dir(scorelens) if not n.startswith("_")}
    assert {"run", "open", "Study", "STAGES", "StudyConfig", "Workspace", "stages"} <= public
    params = inspect.signature(scorelens.run).parameters
    assert list(params)[:2] == ["manifest", "workspace"] and "overrides" in params and "workers" in params
    assert "open" not in scorelens.__all__  # `from scorelens import *` keeps the builtin open


def test_the_readmes_stage_table_is_the_declared_graph():
    """The README's table of stages is STAGES, row for row (the docs read the one list)."""
    import re
    from pathlib import Path

    from scorelens.stages import STAGES

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|\s*(.+?)\s*\|\s*(.*?)\s*\|\s*(.+?)\s*\|$", readme, flags=re.M)
    assert [r[0] for r in rows] == list(STAGES)
    for name, does, needs, writes in rows:
        stage = STAGES[name]
        assert does == stage.help and writes.strip("`") == stage.writes.strip("`"), name
        assert [n.strip() for n in needs.split(",") if n.strip()] == list(stage.needs), name


def test_each_package_re_exports_its_public_api_lazily():
    """`scorelens.<package>.<name>` for every public name of the package's modules; importing a package imports
    none of them (checked in a fresh interpreter)."""
    import importlib
    import subprocess
    import sys

    for package in ("stamp", "features", "io", "report", "demo", "analysis", "mil", "stages"):
        module = importlib.import_module(f"scorelens.{package}")
        assert module.__all__, package
        for name in module.__all__:
            assert getattr(module, name) is not None, f"scorelens.{package}.{name}"
        assert set(module.__all__) <= set(dir(module)), package
    code = ("import sys, scorelens, scorelens.stamp, scorelens.features, scorelens.io, scorelens.report, "
            "scorelens.demo, scorelens.stages; print(sorted(m for m in ('pandas', 'torch', 'scipy', 'librosa', 'av') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
