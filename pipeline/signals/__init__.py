"""Signal toolkit: detrending, filters, POS and CHROM, rates, POS pseudo-labels, trace quality.

Pure numpy/scipy, arrays in and numbers out; the stages call these functions with the values of
the ``signals`` section of params.yaml. Import the submodules themselves
(``from pipeline.signals.pos import pos``): the package re-exports nothing, so a job depends
only on the signal code it runs.
"""
