"""trickbench: a benchmark and reproducibility suite for the training techniques of deep learning.

Layers, each depending only on those before it: techniques → models → data → train → studies →
collect → report. The Snakemake workflow (Snakefile, workflow/rules/) drives them through the
`trickbench` command line and `trickbench.workflow.plan_from_config`.
"""
