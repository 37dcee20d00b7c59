"""What a source file imports, read from its syntax tree (a guard on words would miss
``import dan_ext as d; d.reference`` and trip on a comment)."""
import ast
from pathlib import Path
from typing import Set


def imported_modules(path: Path, package: str) -> Set[str]:
    """Every module ``path`` imports, fully qualified; ``package`` is the file's own package (for
    relative imports). ``from a import b`` counts as both ``a`` and ``a.b`` (b may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parents = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parents + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def package_of(path: Path, root: Path, root_name: str) -> str:
    """The dotted package a file under ``root`` (imported as ``root_name``) belongs to."""
    rel = Path(path).relative_to(root).parent.parts
    return ".".join((root_name,) + rel)


def imports_under(names: Set[str], prefix: str) -> Set[str]:
    return {n for n in names if n == prefix or n.startswith(prefix + ".")}
