"""`bs4nn paper`: the paper's figures and tables rerun, each with our figure beside the paper's.

numbers.py holds what the paper reports; models.py finds (or with --retrain trains) the models;
mnist.py, fashion.py and tables.py are the experiments; figures.py draws them; run.py runs the
selected ones, resumes, and writes results.json and report.md; cli.py is the sub-command.
"""
