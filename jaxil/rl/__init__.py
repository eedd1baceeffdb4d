"""RL solvers (expert trainers and inner loops of IRL), one module each."""
