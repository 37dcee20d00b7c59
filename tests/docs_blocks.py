"""The code blocks of the guides (docs/**/*.md) and of README.md, as the docs tests run them.

A ```python block runs; a block is left out only under an HTML comment on the lines just above it,
``<!-- docs-test: skip REASON -->``, which shows in the page source and names why (a GPU, another
test that runs it). Blocks in other languages (shell commands, output) are not run."""
import re
from pathlib import Path
from typing import List, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(\S.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


class Block(NamedTuple):
    path: Path
    line: int
    code: str
    skip: str  # the reason, or "" when the block runs


def pages() -> List[Path]:
    """Every markdown page a reader sees: the guides, the gallery's index, and README."""
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts) + [ROOT / "README.md"]


def python_blocks(path: Path) -> List[Block]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        if m.group(1) not in ("python", "py", "python3"):
            continue
        above = text[:m.start()].rstrip("\n").split("\n")
        reason = ""
        while above and above[-1].strip().startswith("<!--"):  # the comments just above the fence
            found = SKIP.search(above.pop())
            reason = reason or (found.group(1) if found else "")
        blocks.append(Block(path, text.count("\n", 0, m.start()) + 1, m.group(2), reason))
    return blocks


def script(blocks: List[Block]) -> str:
    """A page's running blocks in order, as one program: a later block may use an earlier one's
    names, as a reader who pastes them one after the other would. Each block starts with a comment
    naming its line, so a failure's traceback points at the page."""
    return "\n".join(f"# --- {b.path.name}:{b.line}\n{b.code}" for b in blocks if not b.skip)
