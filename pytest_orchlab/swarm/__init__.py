"""Phase 2, Docker Swarm: the swarm, the stack, steady traffic, scaling, self-healing, rollouts, and their verdicts."""
