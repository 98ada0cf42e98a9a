"""Measurement shared by the phases: HTTP traffic, CPU, timelines, engine clocks and every wait."""
