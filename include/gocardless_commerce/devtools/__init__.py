"""Developer tools: ``make demo``, ``make bench`` and the sandbox run as a child process.

The only part of the package allowed to import the simulator (``gocardless_sandbox``);
production code never imports this folder.
"""
