"""Shared by every layer: bilingual texts, the exception tree, the student's lab folder."""
