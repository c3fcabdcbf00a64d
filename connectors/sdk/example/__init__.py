"""A minimal, complete connector with its own simulated device: the SDK's worked example."""
