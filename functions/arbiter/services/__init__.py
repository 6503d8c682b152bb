"""The service layer: what each function does, in terms of the core and the ports.

Handlers parse events and call these; the demo and the simulator call them too.
"""
