"""Local stand-ins for vendor APIs that cannot be reached from here, following each vendor's
documented request and response shapes: the demo moves numbers through them, and the contract
tests point the adapters at them."""
