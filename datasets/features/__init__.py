"""Audio front ends shared by datasets (feature caches) and methods."""
