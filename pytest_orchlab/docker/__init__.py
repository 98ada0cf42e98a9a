"""The Docker engine and what the lab builds and runs on it: images, the web-app container, sweeping."""
