"""What a report item is: one table or figure of reports/index.html and everything it says.

An item is a subclass of :class:`ReportItem` that declares, as class attributes,

- ``id``: stable name (the HTML anchor; unique in the report),
- ``section``: the heading it appears under (sections are numbered in order of first use),
- ``title`` and ``caption``: printed above the item, caption never empty,
- ``published``: the tables (and rows) of ``pipeline/reference/published.yaml`` it compares
  with, as :class:`Published` entries; ``()`` for an item with no published counterpart,
- ``reads``: the report inputs it reads (names of ``ReportInputs`` fields); it is handed only
  those, so a read of another input fails,

and a :meth:`ReportItem.build` that returns an :class:`ItemOutput`: its HTML fragment, the files
it writes under the report folder (``tables/<name>.csv|md``, ``figures/<name>.png|txt``), its
entries of reports/metrics.json and the absent inputs it found while building.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import pandas as pd
from markupsafe import Markup

from pipeline.raw_data import describe_origin
from pipeline.report import tables as T
from pipeline.report.figures import Figure
from pipeline.report.inputs import INPUT_NAMES, InputView

# folders below the report folder an item may write into
FILE_DIRS = ("tables", "figures")


@dataclass(frozen=True)
class Published:
    """A published table an item compares with (an id of published.yaml), optionally some rows."""

    table: str
    rows: tuple[str, ...] = ()


@dataclass
class ItemOutput:
    html: Markup                                                   # the fragment under title and caption
    files: dict[str, str | bytes] = field(default_factory=dict)    # path below the report folder -> content
    metrics: dict[str, Any] = field(default_factory=dict)          # top-level entries of metrics.json
    headline: dict[str, Any] = field(default_factory=dict)         # top-level entries of headline.json (DVC's metrics)
    absent: list[str] = field(default_factory=list)                # absent inputs found while building


@dataclass
class ReportContext:
    """What every item may use: the settings, the provenance, the data origins, its inputs."""

    params: dict
    digits: int                 # report.digits
    prov: dict                  # provenance of this report (commit, hashes)
    origins: dict[str, dict]    # dataset -> data origin, from whichever input recorded it
    used: list[Path]            # every input file read
    inputs: InputView           # the inputs this item declares in ``reads``

    @property
    def commit(self) -> str:
        return self.prov["git_commit"]

    @staticmethod
    def name(dataset: str) -> str:
        return T.DATASET_NAMES.get(dataset, dataset)

    def origin(self, dataset: str) -> str:
        """The data origin of ``dataset`` in words."""
        return describe_origin(self.origins.get(dataset))


class ReportItem:
    """Base of every report item (see the module docstring for what a subclass declares)."""

    id: ClassVar[str]
    section: ClassVar[str]
    title: ClassVar[str]
    caption: ClassVar[str]
    published: ClassVar[tuple[Published, ...]]
    reads: ClassVar[tuple[str, ...]]

    REQUIRED: ClassVar[tuple[str, ...]] = ("id", "section", "title", "caption", "published", "reads")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):  # a base shared by several items declares less
            return
        missing = [a for a in cls.REQUIRED if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"report item {cls.__name__} does not declare {missing}")
        unknown = [r for r in cls.reads if r not in INPUT_NAMES]
        if unknown:
            raise TypeError(f"report item {cls.__name__} reads unknown inputs {unknown}; inputs: {INPUT_NAMES}")
        if not all(isinstance(p, Published) for p in cls.published):
            raise TypeError(f"report item {cls.__name__}: 'published' must hold Published entries")

    def build(self, ctx: ReportContext) -> ItemOutput:
        raise NotImplementedError


# ---------------------------------------------------------------- helpers for items

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def fragment(source: str, **values: Any) -> Markup:
    """Render a small Jinja template (autoescaped) into an HTML fragment."""
    return Markup(_ENV.from_string(source).render(**values))


# a column holding a cell longer than this many characters gets a minimum width (wider for
# prose): left to the browser, a wrapping column is squeezed to a word per line when the others
# are wide, and its rows grow tens of lines tall
LONG_TEXT_CHARS = 36
PROSE_CHARS = 120


def _min_width(longest: int) -> str | None:
    if longest > PROSE_CHARS:
        return "34em"
    return "16em" if longest > LONG_TEXT_CHARS else None


def _text_columns(df: pd.DataFrame) -> list[int]:
    """1-based positions of the columns after the first that hold mostly words, not numbers (ids
    such as '01' among subject names stay words)."""
    out = []
    for i, column in enumerate(df.columns[1:], start=2):
        values = df[column].dropna()
        words = values.map(lambda v: isinstance(v, str)) & pd.to_numeric(values, errors="coerce").isna()
        if len(values) and words.mean() > 0.5:
            out.append(i)
    return out


def html_table(df: pd.DataFrame, digits: int, signed: tuple[str, ...] = ()) -> Markup:
    """A DataFrame as an HTML table, cells formatted as in every table of the report: numbers
    right-aligned, columns of words left-aligned (a style scoped to the table's own id)."""
    cells = T.formatted(df, digits, signed)
    widths = {c: _min_width(int(cells[c].astype(str).str.len().max())) for c in cells.columns} if len(cells) else {}
    long = {c: w for c, w in widths.items() if w is not None}
    html = cells.to_html(index=False, escape=True, border=0, col_space=long or None)
    text = _text_columns(df)
    if not text:
        return Markup(html)
    table_id = "t" + hashlib.sha1(html.encode()).hexdigest()[:12]
    html = html.replace("<table ", f'<table id="{table_id}" ', 1)
    selectors = ", ".join(f"#{table_id} td:nth-child({i}), #{table_id} th:nth-child({i})" for i in text)
    return Markup(f"<style>{selectors} {{ text-align: left; }}</style>\n{html}")


def wide(df: pd.DataFrame, digits: int, signed: tuple[str, ...] = ()) -> Markup:
    """The table in a horizontally scrolling box."""
    return fragment('<div class="wide">{{ t }}</div>', t=html_table(df, digits, signed))


def table_item(name: str, df: pd.DataFrame, digits: int, have_inputs: bool, when_empty: str,
               when_absent: str) -> ItemOutput:
    """An item that is one table: the table, or a note when it is empty (``when_empty``) or its
    inputs are absent (``when_absent``); its files either way."""
    if not df.empty:
        html = wide(df, digits)
    else:
        html = fragment("<p>{{ note }}</p>", note=when_empty if have_inputs else when_absent)
    return ItemOutput(html, table_files(name, df, digits))


def table_files(name: str, df: pd.DataFrame, digits: int) -> dict[str, str]:
    """tables/<name>.csv (raw values), tables/<name>.md and tables/<name>.tex (formatted,
    differences signed; the LaTeX as a tabular for a paper)."""
    shown = T.formatted(df, digits, signed=("diff", "difference"))
    return {
        f"tables/{name}.csv": df.to_csv(index=False),
        f"tables/{name}.md": T.to_markdown(shown),
        f"tables/{name}.tex": shown.to_latex(index=False, escape=True),
    }


def figure_files(fig: Figure) -> dict[str, str | bytes]:
    """figures/<name>.png, figures/<name>.svg and the caption figures/<name>.txt."""
    return {f"figures/{fig.name}.png": fig.png, f"figures/{fig.name}.svg": fig.svg,
            f"figures/{fig.name}.txt": fig.caption + "\n"}


def figure_html(fig: Figure) -> Markup:
    """The figure embedded as a base64 PNG with its caption."""
    return fragment('<figure><img alt="{{ title }}" src="data:image/png;base64,{{ b64 }}">\n'
                    '<figcaption>Figure: {{ caption }}</figcaption></figure>\n',
                    title=fig.title, caption=fig.caption, b64=base64.b64encode(fig.png).decode("ascii"))


def clean(x: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if hasattr(x, "item") and not isinstance(x, (list, dict)):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x
