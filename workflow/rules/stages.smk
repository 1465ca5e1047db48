# One rule per stage of the DAG declaration (pipeline/dag/spec.py): its wildcards, inputs,
# outputs, tracked params, code dependencies (the stage module's import closure), log and
# command line all come from there; dvc.yaml is rendered from the same declaration.

for _stage in STAGES:

    rule:
        name:
            _stage.name
        input:
            unpack(inputs_of(_stage)),
        output:
            **outputs_of(_stage),
        params:
            tracked=tracked_of(_stage),
            command=command_of(_stage),
        log:
            _stage.log,
        benchmark:
            _stage.benchmark
        wildcard_constraints:
            **constraints(_stage),
        resources:
            **resources_of(_stage),
        threads: _stage.threads
        priority: priority_of(_stage)
        conda:
            "../../environment.yml"
        shell:
            shell_of(_stage)
