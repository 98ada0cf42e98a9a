"""Grading a class: the roster, one isolated lab run per student, and the class's CSV, Markdown and chart."""
