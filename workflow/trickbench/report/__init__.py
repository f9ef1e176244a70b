"""The report: figures drawn from the collected tables, and the self-contained HTML page.

Analysis reads tables only (never training code), so a report can be re-rendered from results.
"""
