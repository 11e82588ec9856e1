"""One module per schema revision, oldest first by date; `make migration m="…"` adds one."""
