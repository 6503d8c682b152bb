"""What runs on an operator's machine: the `arbiter` command, the demo."""
