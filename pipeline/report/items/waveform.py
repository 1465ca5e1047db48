"""Report item: POS output beside the ground-truth pulse for one cached trial."""

from __future__ import annotations

from pipeline.errors import InputError
from pipeline.report.figures import waveform_figure
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, figure_files, figure_html, fragment


class ExampleWaveform(ReportItem):
    id = "example_waveform"
    section = "Example waveform"
    title = "Example waveform"
    caption = ("POS output of one cached trial against its ground-truth pulse and the POS pseudo-label "
               "stored by the preprocess stage (report.example_waveform in params.yaml chooses the trial).")
    published = ()
    reads = ("caches", "unsupervised")

    def build(self, ctx: ReportContext) -> ItemOutput:
        wf = ctx.params["report"]["example_waveform"]
        caches = ctx.inputs.caches
        # null: the first dataset with baseline results and a cache (so narrowing 'datasets'
        # needs no edit here)
        pulse_datasets = [r.dataset for r in ctx.inputs.unsupervised if r.dataset in caches]
        dataset = wf["dataset"] if wf["dataset"] is not None else (pulse_datasets[0] if pulse_datasets else None)
        figure, missing, absent = None, "", []
        if dataset is None:
            missing = "report.example_waveform.dataset is null and no baseline run has a cached dataset"
        elif dataset in caches:
            try:
                figure = waveform_figure(caches[dataset], dataset, ctx.params["signals"],
                                         float(wf["seconds"]), wf["trial"], ctx.commit)
            except InputError as err:
                missing = str(err)
                absent.append(f"example waveform: {err}")
        else:
            missing = f"no cache of dataset {dataset} was given (report.example_waveform.dataset)"
            absent.append(f"example waveform: {missing}")
        html = fragment(
            '{% if origin %}<p class="source">Data: {{ origin }}.</p>\n{% endif %}'
            "{% if fig %}{{ fig }}{% else %}<p>No example waveform: {{ missing }}</p>{% endif %}",
            origin=f"{ctx.name(dataset)}: {ctx.origin(dataset)}" if dataset is not None else "",
            fig=figure_html(figure) if figure is not None else "", missing=missing)
        return ItemOutput(html, figure_files(figure) if figure is not None else {}, absent=absent)
