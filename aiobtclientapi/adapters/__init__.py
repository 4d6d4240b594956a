"""Client adapters. Each subpackage implements :class:`~..application.ports.ClientPort`."""
