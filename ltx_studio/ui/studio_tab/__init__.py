"""The Studio tab: the prompt bar and its drawer, the feed of cards and what their buttons do, live mode,
batches. No module here is imported by this file: import the one you need (`studio_tab.tab` builds the tab)."""
