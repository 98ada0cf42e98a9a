"""Results: the verdict type, the lab's checklist, and the report (terminal and JSON)."""
