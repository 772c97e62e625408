"""A small document model for reports, and its two renderings: Markdown and self-contained HTML.

A :class:`Report` is a list of :class:`Section` s, each a list of blocks (:class:`Text`,
:class:`Heading`, :class:`Table`, :class:`Image`, :class:`Code`) or, when its inputs do
not exist yet, one *to do* line naming the command that makes them. The blocks hold
text, not numbers: whoever builds them decides how a value is printed, so that the
Markdown and the HTML show the same digits.

Text may carry two inline marks, as in Markdown: ```code``` and ``**bold**``. Markdown
keeps them; HTML turns them into ``<code>`` and ``<strong>`` after escaping everything
else.

:func:`render_markdown` links images relatively (``../figures/x.png``);
:func:`render_html` embeds them as ``data:`` URIs and styles the page inline, so the HTML
file needs nothing else: no JavaScript, no network, no neighbouring files.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

from scorelens.exceptions import ParameterError

__all__ = ["Cell", "Text", "Heading", "Table", "Image", "Code", "Section", "Report", "GENERATED_PREFIX",
           "render_markdown", "render_html"]

#: The one line of a rendered report that changes from run to run starts with this.
GENERATED_PREFIX = "Generated:"

#: Image types the HTML embeds, by file suffix.
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, bold or not (a significant or best value)."""

    text: str
    bold: bool = False


@dataclass(frozen=True)
class Text:
    """A paragraph (inline ```code``` and ``**bold**`` allowed)."""

    kind: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True)
class Heading:
    """A heading inside a section."""

    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class Table:
    """A table of text cells.

    Attributes
    ----------
    columns : tuple of str [length n_columns]
    rows : tuple of tuple of Cell [shape=(n_rows, n_columns)]
    numeric : tuple of bool [length n_columns]
        Columns aligned right (numbers).
    caption : str
        Printed above the table (inline marks allowed).
    folded : bool
        Long reference tables (a cue sheet) start folded away under their caption
        (``<details>``, which Markdown viewers render too).
    """

    kind: ClassVar[str] = "table"
    columns: tuple
    rows: tuple
    numeric: tuple = ()
    caption: str = ""
    folded: bool = False

    def __post_init__(self) -> None:
        if not self.numeric:
            object.__setattr__(self, "numeric", (False,) * len(self.columns))
        bad = [i for i, row in enumerate(self.rows) if len(row) != len(self.columns)]
        if bad or len(self.numeric) != len(self.columns):
            raise ParameterError(f"table {self.columns}: row(s) {bad} or the alignment do not have "
                             f"{len(self.columns)} cells")


@dataclass(frozen=True)
class Image:
    """A figure file.

    Attributes
    ----------
    path : Path
        The file (read when the HTML is rendered).
    link : str
        Its path relative to the Markdown report (POSIX separators).
    caption : str
    """

    kind: ClassVar[str] = "image"
    path: Path
    link: str
    caption: str


@dataclass(frozen=True)
class Code:
    """Verbatim text under a title (a settings file); folded away in the HTML."""

    kind: ClassVar[str] = "code"
    title: str
    text: str
    language: str = "json"


@dataclass(frozen=True)
class Section:
    """One section: blocks, or a *to do* line when its inputs do not exist.

    Attributes
    ----------
    key : str
        Anchor (``#key`` in the HTML).
    title : str
    blocks : tuple of blocks
    todo : str or None
        ``"not run yet — run `scorelens …`"``; the section has no blocks then.
    from_stages : bool
        Whether the section reports a stage's results (the corpus and the provenance do not):
        a report without any such section has nothing to say.
    """

    key: str
    title: str
    blocks: tuple = ()
    todo: str | None = None
    from_stages: bool = True


@dataclass(frozen=True)
class Report:
    """A whole report.

    Attributes
    ----------
    title : str
    subtitle : str
        One line under the title (the workspace, the version).
    sections : tuple of Section
    generated : str
        When it was made; the only line that differs between two runs on the same inputs.
    """

    title: str
    subtitle: str
    sections: tuple = field(default_factory=tuple)
    generated: str = ""

    @property
    def has_results(self) -> bool:
        """Whether any stage's results are in the report."""
        return any(s.from_stages and s.todo is None for s in self.sections)


# --- Markdown -------------------------------------------------------------------------------

def _slug(title: str) -> str:
    """The anchor Markdown viewers (GitHub, GitLab) give a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _md_cell(cell: Cell) -> str:
    text = cell.text.replace("|", "\\|").replace("\n", " ")
    return f"**{text}**" if cell.bold and text else text


def _md_table(table: Table) -> list[str]:
    if table.folded:
        return (["<details>", f"<summary>{html.escape(table.caption)}</summary>", ""]
                + _md_table(replace(table, caption="", folded=False)) + ["", "</details>"])
    lines = [table.caption, ""] if table.caption else []
    lines.append("| " + " | ".join(c.replace("|", "\\|") for c in table.columns) + " |")
    lines.append("|" + "".join("---:|" if n else "---|" for n in table.numeric))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def _md_block(block) -> list[str]:
    if block.kind == "text":
        return [block.text]
    if block.kind == "heading":
        return [f"### {block.text}"]
    if block.kind == "table":
        return _md_table(block)
    if block.kind == "image":
        return [f"![{block.caption}]({block.link})", "", f"*{block.caption}*"]
    if block.kind == "code":
        return ["<details>", f"<summary>{html.escape(block.title)}</summary>", "", f"```{block.language}",
                block.text.rstrip("\n"), "```", "", "</details>"]
    raise TypeError(f"unknown block {block!r}")


def render_markdown(report: Report) -> str:
    """The report as Markdown, images linked relatively; one line starts with :data:`GENERATED_PREFIX`."""
    lines = [f"# {report.title}", "", report.subtitle, ""]
    lines += ["Contents: " + " · ".join(f"[{s.title}](#{_slug(s.title)})" for s in report.sections), ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.todo is not None:
            lines += [section.todo, ""]
            continue
        for block in section.blocks:
            lines += _md_block(block) + [""]
    if report.generated:
        lines += [f"{GENERATED_PREFIX} {report.generated}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- HTML -----------------------------------------------------------------------------------

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str):
    """Escape ``text``; then ```x``` becomes ``<code>x</code>`` and ``**x**`` ``<strong>x</strong>``."""
    from markupsafe import Markup  # jinja2's own dependency: text marked safe is not escaped again

    out = _CODE.sub(r"<code>\1</code>", html.escape(str(text), quote=False))
    return Markup(_BOLD.sub(r"<strong>\1</strong>", out))


def _data_uri(image: Image) -> str:
    mime = _MIME.get(image.path.suffix.lower())
    if mime is None:
        raise ParameterError(f"{image.path}: cannot embed a {image.path.suffix} file in HTML")
    return f"data:{mime};base64," + base64.b64encode(image.path.read_bytes()).decode("ascii")


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["inline"] = _inline
    env.globals["data_uri"] = _data_uri
    source = resources.files("scorelens.report").joinpath("templates", "report.html.j2").read_text(encoding="utf-8")
    return env.from_string(source)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (images embedded, inline CSS, no scripts)."""
    return _template().render(report=report, generated_prefix=GENERATED_PREFIX)
