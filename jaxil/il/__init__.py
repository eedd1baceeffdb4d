"""Imitation and inverse RL algorithms, one module each."""
