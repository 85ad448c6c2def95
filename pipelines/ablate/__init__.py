"""Ablations: train identical small language models on corpus variants and compare them."""
