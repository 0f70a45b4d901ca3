"""The domains import each other in one direction only, as the architecture draws them.

Every module under backend/ and mobile_api/ is parsed (not imported) and each of its imports is
checked against the table below: a domain may import the domains it lists, and nothing above.
What several domains must do together lives above them (a death stops visits and pages: the
course of a case), so that the API, the phone and the hospital's notices all go through it.

Not ranked: the HTTP layer (every `*controllers` module and `routes`, and mobile_api's routes),
which sits on top and may call any service; and backend's own top-level modules (app, worker,
scheduler, cli, demo, and the shared plumbing: db, orm, errors, clock, wire, events, ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backend", "mobile_api")

BOTTOM = frozenset({"people", "audit"})
# Each layer and the layers it may import (its own modules always). Read from the bottom up.
ALLOWED: dict[str, frozenset[str]] = {
    "people": frozenset({"audit"}),  # people and audit are the bottom, together
    "audit": frozenset({"people"}),
    "cases": BOTTOM,
    "roster": BOTTOM,  # shift times and the on-call roster: used by visits and alerts, owned by neither
    "phone_dtos": BOTTOM | {"cases", "roster"},  # mobile_api/schemas.py: what the phone sends and reads
    "alerts": BOTTOM | {"cases", "roster"},
    "visits": BOTTOM | {"cases", "roster", "alerts", "phone_dtos"},
    "course": BOTTOM | {"cases", "roster", "alerts", "visits", "phone_dtos"},  # admitted, leave, home, died, closed
    "sync": BOTTOM | {"cases", "roster", "alerts", "visits", "course", "phone_dtos"},  # the phone's offline batch
    "messages": BOTTOM | {"cases", "roster", "alerts", "visits", "course"},  # MedCom in and out
    "board": BOTTOM | {"cases", "roster", "alerts", "visits", "course"},  # the coordinators' live board
    # the data out (a case as FHIR, the national data set): reads every domain, changes none
    "exports": BOTTOM | {"cases", "roster", "alerts", "visits", "course", "messages", "board"},
}
TOP = "http"  # controllers and routes: may import anything, and nothing ranked may import them


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer a module belongs to; None for backend's top-level modules, which are not ranked."""
    parts = module.split(".")
    if parts[-1].endswith("controllers") or parts[-1] == "routes":
        return TOP
    if parts[0] == "mobile_api":
        return "phone_dtos" if parts[1:] == ["schemas"] else TOP
    if parts[0] == "backend" and len(parts) > 2 and parts[1] in ALLOWED:
        return parts[1]
    return None


def imports_of(path: Path, module: str, known: set[str]) -> list[tuple[int, str]]:
    """Every backend or mobile_api module the file imports, with the line (a name imported from a
    package counts as its submodule when there is one: `from backend.visits import away`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package (an __init__ is its package)
                package = module.split(".")
                package = package[: len(package) - node.level + (path.name == "__init__.py")]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((node.lineno, submodule if submodule in known else base))
    return sorted({(line, name) for line, name in found if name.split(".")[0] in PACKAGES})


def violations(root: Path = ROOT) -> list[str]:
    """Each import that goes against the table, as "file:line: a imports b (why)"."""
    files = {module_name(path, root): path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))}
    known = set(files)
    wrong = []
    for module, path in files.items():
        here = layer_of(module)
        if here is None or here == TOP:
            continue
        for line, target in imports_of(path, module, known):
            there = layer_of(target)
            if there is None or there == here or there in ALLOWED[here]:
                continue
            why = "the HTTP layer" if there == TOP else there
            wrong.append(f"{path.relative_to(root)}:{line}: {module} imports {target} ({here} may not import {why})")
    return wrong


def test_every_domain_imports_only_the_domains_below_it() -> None:
    assert violations() == []


def test_the_table_ranks_every_domain_package() -> None:
    """A new domain folder gets its place in the table before it can import anything unchecked."""
    domains = {path.parent.name for path in (ROOT / "backend").glob("*/__init__.py")}
    assert domains - {"migrations"} <= set(ALLOWED)


def test_the_layers_form_no_cycle_but_the_bottom_pair() -> None:
    """Read as a graph, the table goes one way: only people and audit, the bottom, lean on each other."""

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            below == goal or (below not in seen and reaches(below, goal, seen | {below})) for below in ALLOWED[start]
        )

    cycles = sorted(layer for layer in ALLOWED if reaches(layer, layer))
    assert cycles == ["audit", "people"]
