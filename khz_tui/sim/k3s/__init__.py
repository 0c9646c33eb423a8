"""Simulated k3s: clusters formed by the official installer's invocation on simulated nodes."""
