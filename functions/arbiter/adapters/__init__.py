"""Adapters: the store, DNS providers, the notifier, the act invoker and the checks."""
