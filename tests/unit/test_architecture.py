"""The floors of ARCHITECTURE.md, read from the source (AST only, nothing imported): import direction,
own imports at module top, no import cycle, and test files named after the module they test.

Each rule is a pure function over a source tree, so the meta-tests below run it on small trees written
to `tmp_path` and show it fails on a back-arrow; the real-tree tests run it once per package and list
every violation as `file:line: rule`.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# what each top-level package may import of the project (and of prefect); the layers of ARCHITECTURE.md
_BASE = frozenset({"xsell"})
ALLOWED: dict[str, frozenset[str]] = {
    "xsell": frozenset(),
    "ingest": _BASE,
    "synth": _BASE | {"ingest"},
    "features": _BASE | {"ingest"},
    "training": _BASE | {"ingest", "features"},
    "registry": _BASE | {"ingest", "features", "training"},
    "monitoring": _BASE | {"ingest", "features", "training", "registry"},
    "serving": _BASE | {"ingest", "features", "training", "registry"},
    "deploy": _BASE | {"ingest", "features", "training", "registry", "monitoring", "serving"},
    "tasks": _BASE | {"ingest", "features", "training", "registry", "monitoring", "serving", "prefect"},
    "flows": _BASE
    | {"ingest", "synth", "features", "training", "registry", "monitoring", "serving", "deploy", "tasks", "prefect"},
    "bench": _BASE
    | {"ingest", "synth", "features", "training", "registry", "monitoring", "serving", "deploy", "tasks", "flows"}
    | {"prefect"},
}
PACKAGES = tuple(ALLOWED)
_LOWER = frozenset({"ingest", "features", "training", "registry", "monitoring", "serving", "synth", "xsell"})
_UPPER = frozenset({"flows", "tasks", "deploy", "prefect"})

# the headline rules of issue 14, named in a failure message when an arrow breaks one of them
_REASONS: list[tuple[frozenset[str], frozenset[str], str]] = [
    (_LOWER, _UPPER, "nothing below flows/ and tasks/ imports flows, tasks, deploy or prefect"),
    (frozenset({"xsell"}), frozenset(ALLOWED), "xsell/ (plumbing) imports no layer"),
    (frozenset({"registry"}), frozenset({"serving", "monitoring"}), "registry never imports serving or monitoring"),
    (frozenset({"tasks"}), frozenset({"flows", "deploy"}), "tasks/ never imports flows or deploy (flows -> deploy)"),
    (frozenset({"deploy"}), frozenset({"flows", "tasks", "prefect"}), "deploy/ never imports flows, tasks or prefect"),
    (frozenset(ALLOWED), frozenset({"synth"}), "synth/ sits above ingest/: only flows/ and bench/ import it"),
    (frozenset(ALLOWED), frozenset({"bench"}), "bench/ is the top: nothing imports it"),
]


@dataclass(frozen=True)
class ImportSite:
    """One imported name: where it is, what it resolves to, and in which scope it runs."""

    path: str  # relative to the root, e.g. "registry/gates.py"
    line: int
    module: str  # importing module, e.g. "registry.gates"
    target: str  # project module it resolves to ("serving.shadow") or the third-party top name ("prefect")
    statement: str
    function: str | None  # enclosing function when the import is deferred
    type_checking: bool  # inside `if TYPE_CHECKING:`

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]

    @property
    def own(self) -> bool:
        return self.target_package in ALLOWED

    def where(self) -> str:
        return f"{self.path}:{self.line}: `{self.statement}`"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Map every module of the given top-level packages under root to its file."""
    return {
        _module_name(root, path): path
        for package in packages
        if (root / package).is_dir()
        for path in sorted((root / package).rglob("*.py"))
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, function: str | None, type_checking: bool) -> Iterator[tuple[ast.AST, str | None, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, function, type_checking
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            name = child.name if not isinstance(child, ast.Lambda) else "<lambda>"
            yield from _walk(child, function or name, type_checking)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, function, True
                yield from _walk(stmt, function, True)
            for stmt in child.orelse:
                yield stmt, function, type_checking
                yield from _walk(stmt, function, type_checking)
        else:
            yield from _walk(child, function, type_checking)


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest project module naming `name` (a.b.c -> a.b if c is an attribute), else its top name."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return parts[0]


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [_resolve(alias.name, modules) for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [_resolve(f"{base}.{alias.name}" if alias.name != "*" else base, modules) for alias in node.names]


def scan_imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[ImportSite]:
    """Every import of every module of the given packages under root, resolved against the project's modules."""
    modules = project_modules(root, packages)
    sites: list[ImportSite] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(root).as_posix()
        for node, function, type_checking in _walk(tree, None, False):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            statement = ast.unparse(node)
            for target in dict.fromkeys(_targets(node, module, path.name == "__init__.py", modules)):
                sites.append(ImportSite(relative, node.lineno, module, target, statement, function, type_checking))
    return sites


def _reason(importer: str, imported: str) -> str:
    for importers, imported_set, reason in _REASONS:
        if importer in importers and imported in imported_set:
            return reason
    allowed = ", ".join(sorted(ALLOWED.get(importer, frozenset()))) or "nothing"
    return f"{importer}/ may import only {allowed} (layers of ARCHITECTURE.md)"


def direction_violations(sites: list[ImportSite]) -> list[str]:
    """Imports that run against the layers: `file:line: statement -- rule broken`."""
    found = []
    for site in sites:
        importer, imported = site.package, site.target_package
        if importer == imported or importer not in ALLOWED:
            continue
        if (imported in ALLOWED or imported == "prefect") and imported not in ALLOWED[importer]:
            found.append(f"{site.where()} -- {importer} -> {imported}: {_reason(importer, imported)}")
    return found


def prefect_modules(sites: list[ImportSite]) -> frozenset[str]:
    """Modules that import Prefect when they are imported (at module top, at run time)."""
    return frozenset(
        s.module for s in sites if s.target_package == "prefect" and s.function is None and not s.type_checking
    )


def deferred_violations(sites: list[ImportSite]) -> list[str]:
    """Imports of the project's own modules inside a function (only heavy third-party imports may be lazy).

    One kind of lazy own import is the lazy import of a third-party library: a CLI command (`flows/`) importing a
    Prefect flow module when it runs. Prefect reads its settings and sets up its logging when it is imported, so it
    must come after the command has put Prefect's state under the home (`flows.context.command_settings`); the
    command's module-top imports are everything else.
    """
    deferred_prefect = prefect_modules(sites)
    return [
        f"{site.where()} inside {site.function}() -- imports of the project's own modules go at module top"
        for site in sites
        if site.own
        and site.function is not None
        and not site.type_checking
        and not (site.package == "flows" and site.target in deferred_prefect)
    ]


def import_cycles(sites: list[ImportSite]) -> list[list[str]]:
    """Strongly connected groups of modules importing each other at run time (TYPE_CHECKING imports excluded)."""
    graph: dict[str, set[str]] = {}
    for site in sites:
        graph.setdefault(site.module, set())
        if site.own and not site.type_checking and site.target != site.module:
            graph[site.module].add(site.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def describe_cycle(group: list[str], sites: list[ImportSite]) -> str:
    """One line per import inside the group, so the circle can be read file by file."""
    members = set(group)
    inside = sorted(
        {
            (s.path, s.line, s.statement, s.module, s.target)
            for s in sites
            if s.module in members and s.target in members
        }
    )
    arrows = [
        f"  {path}:{line}: `{statement}` ({module} -> {target})" for path, line, statement, module, target in inside
    ]
    return "cycle among " + ", ".join(group) + ":\n" + "\n".join(arrows)


def mirror_violations(root: Path, unit: Path) -> list[str]:
    """Test files under unit/ that are not named after a module of the package folder they mirror.

    unit/<pkg>/[<sub>/]test_<name>.py tests <pkg>/[<sub>/]<name>.py (or the package <name>/); a module
    tested under several aspects may have test_<name>_<aspect>.py files. Files directly in unit/
    (cross-cutting rules such as this one) are exempt.
    """
    found = []
    for path in sorted(unit.rglob("test_*.py")):
        folder = path.parent.relative_to(unit)
        if not folder.parts:
            continue
        source = root / folder
        modules = (
            {p.stem for p in source.glob("*.py") if p.stem != "__init__"}
            | {p.name for p in source.iterdir() if (p / "__init__.py").is_file()}
            if source.is_dir()
            else set()
        )
        name = path.stem.removeprefix("test_")
        if not any(name == module or name.startswith(f"{module}_") for module in modules):
            found.append(
                f"{path.relative_to(root).as_posix()}: no module {folder.as_posix()}/{name}.py "
                f"(nor a prefix {folder.as_posix()}/<module>.py of test_<module>_<aspect>.py)"
            )
    return found


# ---- the real tree -------------------------------------------------------------------------------------


@functools.cache
def _real_sites() -> tuple[ImportSite, ...]:
    """The imports of the repository's packages, scanned once per test session."""
    return tuple(scan_imports(REPO))


def test_the_package_list_is_the_installed_one() -> None:
    # given pyproject's package list, then every installed top-level package has its row in ALLOWED
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    included = {name.rstrip("*") for name in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert included == set(ALLOWED)
    assert len(project_modules(REPO)) > 100  # the scan reads the real tree, not an empty folder


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_layers(package: str) -> None:
    # given the layers of ARCHITECTURE.md, then no import of this package runs against them
    found = direction_violations([s for s in _real_sites() if s.package == package])
    assert not found, "imports against the layers:\n" + "\n".join(found)


@pytest.mark.parametrize("package", PACKAGES)
def test_own_imports_sit_at_module_top(package: str) -> None:
    # given imports of the project's modules, then none hides inside a function (no circle dodged that way)
    found = [line for line in deferred_violations(list(_real_sites())) if line.startswith(f"{package}/")]
    assert not found, f"{len(found)} function-level imports of the project's modules:\n" + "\n".join(found)


def test_no_import_cycle_between_modules() -> None:
    # given every run-time import of the project's modules, then no group of modules imports itself back
    sites = list(_real_sites())
    cycles = import_cycles(sites)
    assert not cycles, "\n".join(describe_cycle(group, sites) for group in cycles)


@pytest.mark.parametrize("package", sorted(p.name for p in (REPO / "tests" / "unit").iterdir() if p.is_dir()))
def test_unit_tests_are_named_after_their_module(package: str) -> None:
    # given tests/unit/<pkg>/test_<name>.py, then <pkg>/<name>.py exists (or <name> starts with a module name)
    found = [
        line for line in mirror_violations(REPO, REPO / "tests" / "unit") if line.startswith(f"tests/unit/{package}/")
    ]
    assert not found, "test files not named after a module:\n" + "\n".join(found)


# ---- the checker on small trees (it can fail) ---------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in {Path(name).parts[0] for name in files}:
        (tmp_path / package / "__init__.py").touch()
    return tmp_path


def test_a_back_arrow_from_registry_to_flows_fails(tmp_path: Path) -> None:
    # given registry/x.py importing the CLI, when checked, then the arrow is named with file, line and rule
    root = _tree(tmp_path, {"registry/x.py": '"""X."""\n\nfrom flows.cli import app\n', "flows/cli.py": "app = 1\n"})
    found = direction_violations(scan_imports(root))
    assert found == [
        "registry/x.py:3: `from flows.cli import app` -- registry -> flows: "
        "nothing below flows/ and tasks/ imports flows, tasks, deploy or prefect"
    ]


@pytest.mark.parametrize(
    ("path", "source", "rule"),
    [
        ("registry/gates.py", "import serving.shadow\n", "registry never imports serving or monitoring"),
        ("features/grid.py", "from prefect import task\n", "nothing below flows/ and tasks/ imports"),
        ("xsell/duck.py", "from features import store\n", "xsell/ (plumbing) imports no layer"),
        ("tasks/t.py", "from flows import cli\n", "tasks/ never imports flows or deploy"),
        ("deploy/api/app.py", "from tasks.serving_tasks import x\n", "deploy/ never imports flows, tasks or prefect"),
        ("ingest/read.py", "from synth.generate import generate_raw\n", "synth/ sits above ingest/"),
        ("features/grid.py", "from training import model\n", "features/ may import only ingest, xsell"),
        ("features/grid.py", "if TYPE_CHECKING:\n    from training.model import M\n", "features/ may import only"),
    ],
)
def test_each_forbidden_arrow_names_its_rule(tmp_path: Path, path: str, source: str, rule: str) -> None:
    # given one forbidden import, when checked, then exactly it is reported with the rule it breaks
    root = _tree(tmp_path, {path: source})
    found = direction_violations(scan_imports(root))
    assert len(found) == 1
    assert found[0].startswith(f"{path}:") and rule in found[0]


def test_arrows_down_the_layers_pass(tmp_path: Path) -> None:
    # given imports that follow the layers (relative ones too), when checked, then nothing is reported
    root = _tree(
        tmp_path,
        {
            "flows/cli.py": "from deploy.api import app\nfrom tasks import t\nimport prefect\n",
            "tasks/t.py": "from prefect import task\nfrom serving.batch import score\n",
            "serving/batch.py": "from registry.models import load\nfrom . import tiers\nfrom .tiers import cut\n",
            "serving/tiers.py": "import pandas as pd\n",
            "registry/models.py": "",
            "synth/gen.py": "from ingest.contract import SPEC\n",
        },
    )
    sites = scan_imports(root)
    assert direction_violations(sites) == []
    assert {s.target for s in sites if s.module == "serving.batch"} == {"registry.models", "serving.tiers"}


def test_own_imports_inside_functions_fail_and_third_party_ones_pass(tmp_path: Path) -> None:
    # given a function importing our own module and another importing lightgbm, then only the first is reported
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from features.store import Store\n"
        "def fit():\n    import lightgbm\n"
        "def load():\n    from features.store import connect\n"
    )
    root = _tree(tmp_path, {"training/fit.py": source, "features/store.py": ""})
    assert deferred_violations(scan_imports(root)) == [
        "training/fit.py:7: `from features.store import connect` inside load() -- "
        "imports of the project's own modules go at module top"
    ]


def test_a_command_may_defer_a_prefect_flow_module_and_nothing_else(tmp_path: Path) -> None:
    # given CLI commands deferring a module that imports Prefect, one that does not, and a task deferring a flow
    root = _tree(
        tmp_path,
        {
            "flows/train.py": "from prefect import flow\n",
            "flows/options.py": "X = 1\n",
            "flows/cli.py": "def train():\n    from flows.train import f\ndef opts():\n    from flows.options import X\n",
            "tasks/t.py": "def run():\n    from flows.train import f\n",
        },
    )
    # then only the deferred module without Prefect, and the task's import, are reported
    found = deferred_violations(scan_imports(root))
    assert sorted(line.split(":")[0] + ":" + line.split(":")[1] for line in found) == ["flows/cli.py:4", "tasks/t.py:2"]


def test_a_circle_hidden_in_a_function_is_a_cycle_and_type_checking_breaks_none(tmp_path: Path) -> None:
    # given a <-> b through a function-level import, and c -> d -> c only under TYPE_CHECKING
    root = _tree(
        tmp_path,
        {
            "training/pipeline.py": "from training.worker import run\n",
            "training/worker.py": "def run():\n    from training.pipeline import fit\n",
            "features/c.py": "from features.d import x\n",
            "features/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from features.c import y\n",
        },
    )
    sites = scan_imports(root)
    assert import_cycles(sites) == [["training.pipeline", "training.worker"]]
    assert "training/worker.py:2" in describe_cycle(["training.pipeline", "training.worker"], sites)


def test_a_test_file_not_named_after_a_module_fails(tmp_path: Path) -> None:
    # given tests for serving/tiers.py and deploy/api/app.py, one under an aspect and one named after nothing
    root = _tree(tmp_path, {"serving/tiers.py": "", "deploy/api/app.py": "", "deploy/api/__init__.py": ""})
    tests = tmp_path / "tests" / "unit"
    for name in ("serving/test_tiers.py", "serving/test_tiers_cuts.py", "deploy/api/test_app.py", "deploy/test_api.py"):
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).touch()
    (tests / "serving" / "test_account_chunks.py").touch()
    assert mirror_violations(root, tests) == [
        "tests/unit/serving/test_account_chunks.py: no module serving/account_chunks.py "
        "(nor a prefix serving/<module>.py of test_<module>_<aspect>.py)"
    ]
