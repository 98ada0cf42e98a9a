"""Phase 3 (Kubernetes) lands here: the cluster, the deployment and the NodePort service, as for Swarm."""
