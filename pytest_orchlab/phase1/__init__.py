"""Phase 1, one container: serving, the saturation sweep, the kill and the manual recovery, and their verdicts."""
