"""The Python blocks of the seed guide (../shared/seed/wandb-governance-guide.md): where
each sits, whether it is a runnable sample or an API-signature listing, and which names
it uses without defining them (what a reader must supply: imports and their own code).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
# The guide's API reference lists signatures (bodiless `def`s and class skeletons): they
# are checked against the real objects, not run.
LISTING_SECTION = "API Reference"


@dataclass(frozen=True)
class Block:
    index: int  # position among the guide's python blocks
    line: int  # line of the opening fence
    section: str  # the enclosing level-2 heading
    heading: str  # the nearest heading
    key: str  # heading, with " [k]" when several blocks share it
    code: str

    @property
    def is_listing(self) -> bool:
        return self.section == LISTING_SECTION


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of every heading outside fenced code."""
    fenced = [(m.start(), m.end()) for m in FENCE.finditer(text)]
    found = []
    for match in re.finditer(r"^(#+) (.*)$", text, flags=re.M):
        if not any(start <= match.start() < end for start, end in fenced):
            found.append((match.start(), len(match.group(1)), match.group(2).strip()))
    return found


def python_blocks(guide: Path) -> list[Block]:
    text = guide.read_text()
    headings = _headings(text)
    raw = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = [h for h in headings if h[0] < match.start()]
        sections = [title for _, level, title in before if level == 2]
        raw.append(
            (
                text[: match.start()].count("\n") + 1,
                sections[-1] if sections else "",
                before[-1][2] if before else "",
                match.group(2),
            )
        )
    titles = [heading for _, _, heading, _ in raw]
    blocks, seen = [], {}
    for index, (line, section, heading, code) in enumerate(raw):
        key = heading
        if titles.count(heading) > 1:
            seen[heading] = seen.get(heading, 0) + 1
            key = f"{heading} [{seen[heading]}]"
        blocks.append(Block(index, line, section, heading, key, code))
    return blocks


def undefined_names(code: str) -> set[str]:
    """Names the block reads but never binds anywhere (imports, assignments, defs,
    parameters, loop and ``with`` targets), builtins excepted: what the reader supplies."""
    tree = ast.parse(code)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound - set(dir(builtins))


def starts_runs(code: str) -> bool:
    """Does the block call ``wandb.init`` outside a function or class (so, when run)?"""

    def calls_init(node: ast.AST) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return False
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "init"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "wandb"
        ):
            return True
        return any(calls_init(child) for child in ast.iter_child_nodes(node))

    return calls_init(ast.parse(code))
