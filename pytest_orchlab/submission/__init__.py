"""The one gate a student's files pass: a bounded, confined snapshot, and what the lab's files may ask for."""
