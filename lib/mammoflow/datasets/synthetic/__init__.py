"""Synthetic stand-ins of every dataset format, generated deterministically from a seed."""
