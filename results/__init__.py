"""Run records, paper tables and the reproduction report (python -m results.report)."""
