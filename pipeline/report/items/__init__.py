"""The items of the report, in the order they appear: one per table or figure.

To add a table or figure, write a :class:`~pipeline.report.items.base.ReportItem` subclass
(id, section, title, caption, published ids, inputs read, ``build``) and list an instance in
``ITEMS``; the assembler (pipeline/report/build.py) and the template need no edit. Sections are
numbered in the order of their first item.
"""

from __future__ import annotations

from pipeline.report.items.agreement import LearnedHrBlandAltman
from pipeline.report.items.base import ReportItem
from pipeline.report.items.baselines import (
    HrBlandAltman, HrScatter, UnsupervisedExcluded, UnsupervisedPerFold, UnsupervisedVsPublished,
)
from pipeline.report.items.compute import ComputeAudit
from pipeline.report.items.datasets import DatasetSummary, Exclusions, Splits
from pipeline.report.items.deviations import Deviations
from pipeline.report.items.experiments import ExperimentSheet
from pipeline.report.items.learned import SuppTable1, SuppTable3, SuppTable4, Table1, Table2
from pipeline.report.items.paired import PairedAu, PairedRates, paired_items
from pipeline.report.items.per_au import PerAuF1
from pipeline.report.items.provenance import Provenance
from pipeline.report.items.skin import HrErrorBySkinType
from pipeline.report.items.waveform import ExampleWaveform

ITEMS: list[ReportItem] = [
    DatasetSummary(),
    Exclusions(),
    Splits(),
    UnsupervisedVsPublished(),
    UnsupervisedPerFold(),
    UnsupervisedExcluded(),
    HrScatter(),
    HrBlandAltman(),
    HrErrorBySkinType(),
    ComputeAudit(),
    Table1(),
    PerAuF1(),
    LearnedHrBlandAltman(),
    PairedRates(),
    PairedAu(),
    Table2(),
    SuppTable1(),
    *paired_items("table2", Table2.section, "Paper Table 2"),
    SuppTable3(),
    SuppTable4(),
    *paired_items("supp_table3", SuppTable3.section, "Supplementary Table 3"),
    *paired_items("supp_table4", SuppTable4.section, "Supplementary Table 4"),
    ExampleWaveform(),
    ExperimentSheet(),
    Deviations(),
    Provenance(),
]
