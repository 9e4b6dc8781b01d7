"""core: what every layer shares and nothing else: errors, events, sizing (every frame/size/length rule), faults.
Imports nothing of the package."""
